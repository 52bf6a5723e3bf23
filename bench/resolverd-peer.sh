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
YAML
# On the signed copy of the kit's fake internet (bench/signed-internet.sh)
# the node validates from the fake root's anchor, as Unbound with its
# validator does beside it; on the kit's unsigned internet validation is off
# on both sides (every answer would be bogus against the built-in IANA root
# anchors). RESOLVERD_VALIDATION=off turns it off on the signed internet
# too (the cost of validation, side by side).
if [ -f "$BENCH_DATA/trust-anchors.zone" ] && [ "${RESOLVERD_VALIDATION:-on}" != off ]; then
  cp "$BENCH_DATA/trust-anchors.zone" "$repo/trust-anchors.zone"
  printf 'dnssec:\n  validation: true\n  trust_anchors: trust-anchors.zone\n' >>"$repo/policy.yaml"
else
  printf 'dnssec:\n  validation: false\n' >>"$repo/policy.yaml"
fi
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

# The Corefile is Corefile.example's (what users run: its plugin chain in
# its order, metrics, health, ready, errors, the gitops HTTP API and its poll
# interval), with only what must differ on this machine replaced: the
# listen address and port, the config repo and node, the state dir, the
# addresses of the HTTP listeners (127.54.0.1 rather than 127.0.0.1, where
# tests of other worktrees may listen), and `query_localhost` in the
# recursor (the fake internet is on 127.53.0.0/16). Upstream queries keep
# the defaults: a fresh random source port each and 0x20.
# RESOLVERD_CHAIN=bench instead drops what the kit's first runs left out
# (prometheus, health, ready, errors, gitops http; poll 1h): the same node
# with the trimmed chain of the earlier results, for comparison.
example=${RESOLVERD_COREFILE:-$here/../Corefile.example}
chain=${RESOLVERD_CHAIN:-example}
case $chain in example | bench) ;; *) echo "resolverd-peer: RESOLVERD_CHAIN is example or bench, not $chain" >&2; exit 2 ;; esac
awk -v addr="$BENCH_ADDR" -v port="$BENCH_PORT" -v repo="$repo" -v state="$BENCH_RUNDIR/state" -v chain="$chain" '
  { sub(/[ \t]*#.*$/, "") }
  /^[ \t]*$/ { next }
  # the server block
  /^[^ \t].*\{$/ { print "." ":" port " {"; next }
  $1 == "gitops" { ingit = 1; print; next }
  ingit && $1 == "}" { ingit = 0; print; next }
  ingit {
    if ($1 == "repo") $2 = repo
    else if ($1 == "path") next
    else if ($1 == "cluster") $2 = "bench"
    else if ($1 == "node") $2 = "sut"
    else if ($1 == "state") $2 = state
    else if ($1 == "http") { if (chain == "bench") next; $2 = addr ":" substr($2, index($2, ":") + 1) }
    else if ($1 == "poll" && chain == "bench") $2 = "1h"
    $1 = $1
    print "        " $0
    next
  }
  $1 == "bind" { print "    bind " addr; next }
  $1 == "recursor" && NF == 1 { print "    recursor {"; print "        query_localhost"; print "    }"; next }
  $1 == "recursor" && $2 == "{" { print "    recursor {"; print "        query_localhost"; next }
  chain == "bench" && ($1 == "prometheus" || $1 == "health" || $1 == "ready" || $1 == "errors") { next }
  { gsub(/127\.0\.0\.1:/, addr ":"); print }
' "$example" >"$BENCH_RUNDIR/Corefile"
# The chain must be the example's (same plugins, same order), and nothing
# may have turned the hardening off.
directives() { awk '{ sub(/[ \t]*#.*$/, "") } /^    [a-z]/ { print $1 }' "$1" | tr -d ' '; }
if [ "$chain" = example ] && [ "$(directives "$example")" != "$(directives "$BENCH_RUNDIR/Corefile")" ]; then
  echo "resolverd-peer: the bench Corefile's chain differs from $example:" >&2
  diff <(directives "$example") <(directives "$BENCH_RUNDIR/Corefile") >&2 || true
  exit 1
fi
if grep -Eqw 'udp_pool|no_0x20' "$BENCH_RUNDIR/Corefile"; then
  echo "resolverd-peer: the bench Corefile turns off fresh source ports or 0x20" >&2
  exit 1
fi

exec "$bin" -conf "$BENCH_RUNDIR/Corefile" -quiet
