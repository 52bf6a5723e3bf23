#!/usr/bin/env bash
# Runs resolverd as a peer of ../shared/bench (run-peers.sh --peer-cmd): turns
# the kit's data dir into a config repo (a real git repository, so the node
# takes it through gitops exactly as in production) and starts one node on it
# in the foreground.
#
#   resolverd-peer.sh            (reads BENCH_ADDR BENCH_PORT BENCH_DATA BENCH_RUNDIR BENCH_ROOT_HINTS)
#
# RESOLVERD (default: resolverd next to this script's repo, built by `make build`)
# picks the binary.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin=${RESOLVERD:-$here/../resolverd}
: "${BENCH_ADDR:?}" "${BENCH_PORT:?}" "${BENCH_DATA:?}" "${BENCH_RUNDIR:?}" "${BENCH_ROOT_HINTS:?}"

repo=$BENCH_RUNDIR/config
mkdir -p "$repo/zones" "$repo/clusters"
# The kit's zone has a single apex NS; the product's lint wants two (RFC 1034
# 4.1). Add a second name server with the same address: answers to the
# benchmark's queries are unchanged.
{
  cat "$BENCH_DATA/zones/corp.internal.zone"
  echo "corp.internal. 3600 IN NS ns2.corp.internal."
  echo "ns2.corp.internal. 3600 IN A $BENCH_ADDR"
} >"$repo/zones/corp.internal.zone"
cp "$BENCH_ROOT_HINTS" "$repo/root.hints"
cat >"$repo/policy.yaml" <<YAML
recursion:
  root_hints: root.hints
fallback:
  ttl: 30
limits:
  max_delete_percent: 10
  min_ttl: 1
  max_ttl: 604800
# The kit's fake internet is unsigned and its Unbound runs without the
# validator: validation off on both sides (a signed copy is future work).
dnssec:
  validation: false
YAML
cat >"$repo/clusters/bench.yaml" <<YAML
name: bench
environment: staging
track: refs/heads/main
nodes:
  - {name: sut, address: $BENCH_ADDR}
recursion:
  allow: [127.0.0.0/8]
YAML
# RESOLVERD_RPZ_RULES=N loads a response policy of N rules (half exact
# names, half wildcards, none matching the workloads' names, plus N/10
# RPZ-IP rules outside their addresses): the cost of a large blocklist on
# answers it does not block.
if [ "${RESOLVERD_RPZ_RULES:-0}" -gt 0 ]; then
  mkdir -p "$repo/policy"
  awk -v n="$RESOLVERD_RPZ_RULES" 'BEGIN {
    print "$TTL 300"; print "$ORIGIN bench.rpz."
    print "@ SOA localhost. hostmaster.localhost. 1 3600 600 86400 60"
    for (i = 0; i < n; i++) printf (i % 2 ? "*." : "") "bad%d.blocked.test CNAME .\n", i
    for (i = 0; i < n / 10; i++) printf "32.%d.%d.%d.10.rpz-ip CNAME .\n", i % 256, int(i / 256) % 256, int(i / 65536)
  }' >"$repo/policy/bench.rpz"
  printf 'rpz:\n  - file: policy/bench.rpz\n' >>"$repo/policy.yaml"
fi
git -C "$repo" init -q -b main
git -C "$repo" add -A
git -C "$repo" -c user.name=bench -c user.email=bench@localhost commit -qm "bench data"

cat >"$BENCH_RUNDIR/Corefile" <<CORE
.:$BENCH_PORT {
    bind $BENCH_ADDR
    gitops {
        repo    $repo
        ref     refs/heads/main
        cluster bench
        node    sut
        poll    1h
        state   $BENCH_RUNDIR/state
    }
    fastpath
    fallback
    authority
    recursor {
        # The kit's fake internet is on loopback (127.53.0.0/16); Unbound
        # there runs with do-not-query-localhost: no.
        query_localhost
    }
}
CORE
exec "$bin" -conf "$BENCH_RUNDIR/Corefile" -quiet
