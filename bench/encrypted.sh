#!/usr/bin/env bash
# Throughput of one node over plain UDP, plain TCP, DNS over TLS and DNS over
# HTTPS (dnsperf -m udp|tcp|dot|doh), in one run, rounds alternating the
# order: queries/second and the node's CPU microseconds per query (from
# /proc/PID/stat). The questions are internal-zone names (authority
# answers), so the figures are the transports' cost, not resolution's.
#
#   bench/encrypted.sh [SECONDS_PER_RUN] [ROUNDS]     (default 10 s, 2 rounds)
#
# RESOLVERD (default ./resolverd, built by `make build`) picks the binary;
# CLIENTS (default 10) is dnsperf's -c (connections for tcp/dot/doh), MAXQ
# (default 100) its -q, RATE (default none) its -Q (a smoke test at a few
# queries a second disturbs nobody's benchmark). Needs dnsperf (Debian 2.10: -m dot and doh), openssl,
# git. Wrap it in `flock /work/coord/bench.lock` on a shared machine.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
bin=${RESOLVERD:-$here/../resolverd}
secs=${1:-10}
rounds=${2:-2}
clients=${CLIENTS:-10}
maxq=${MAXQ:-100}
rate=()
[ -n "${RATE:-}" ] && rate=(-Q "$RATE")
for t in dnsperf openssl git; do command -v "$t" >/dev/null || { echo "needs $t" >&2; exit 2; }; done

tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT

# A config repo: the example's zone, a root nobody answers on (no query
# leaves the machine), one node on 127.0.0.1.
repo=$tmp/config
mkdir -p "$repo/zones" "$repo/clusters"
cp "$here/../examples/dns-config/zones/corp.internal.zone" "$repo/zones/"
printf '.  3600000 IN NS a.root-servers.test.\na.root-servers.test. 3600000 IN A 127.0.0.253\n' >"$repo/root.hints"
printf 'recursion:\n  root_hints: root.hints\ndnssec:\n  validation: false\n' >"$repo/policy.yaml"
printf 'name: bench\nenvironment: staging\nnodes:\n  - {name: sut, address: 127.0.0.1}\nrecursion:\n  allow: [127.0.0.0/8]\n' >"$repo/clusters/bench.yaml"
git -C "$repo" init -q -b main && git -C "$repo" add -A &&
  git -C "$repo" -c user.name=bench -c user.email=bench@localhost commit -qm bench

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=dns.test \
  -addext subjectAltName=DNS:dns.test,IP:127.0.0.1 -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null

port=$((20000 + RANDOM % 20000))
dot=$((port + 1)) doh=$((port + 2))
cat >"$tmp/Corefile" <<EOF
.:$port tls://.:$dot https://.:$doh {
    bind 127.0.0.1
    tls $tmp/cert.pem $tmp/key.pem
    gitops {
        repo    $repo
        cluster bench
        node    sut
        state   $tmp/state
    }
    fastpath
    fallback
    authority
    recursor
}
EOF
"$bin" -conf "$tmp/Corefile" >"$tmp/log" 2>&1 &
pid=$!
wait_answer 127.0.0.1 "$port" www.corp.internal A 20 || { echo "resolverd did not answer:" >&2; tail -n 20 "$tmp/log" >&2; exit 1; }

# The A names of the zone (not below its delegations), an NXDOMAIN, a NODATA.
awk '$1 ~ /^[a-z0-9-]+$/ && ($3 == "A" || $4 == "A") {print $1 ".corp.internal A"}' "$repo/zones/corp.internal.zone" | sort -u >"$tmp/q"
printf 'nope.corp.internal A\nwww.corp.internal AAAA\n' >>"$tmp/q"

cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
run() { # mode
  local extra=() p=$port
  case $1 in
  dot) p=$dot ;;
  doh) p=$doh; extra=(-O "doh-uri=https://127.0.0.1:$doh/dns-query") ;;
  esac
  local c0 c1 out
  c0=$(cpu)
  out=$(dnsperf -m "$1" -s 127.0.0.1 -p "$p" -d "$tmp/q" -c "$clients" -q "$maxq" -l "$secs" "${rate[@]}" "${extra[@]}" 2>&1)
  c1=$(cpu)
  local n qps lost
  n=$(awk '/Queries completed:/ {print $3}' <<<"$out")
  qps=$(awk '/Queries per second:/ {print $4}' <<<"$out")
  lost=$(awk '/Queries lost:/ {print $3}' <<<"$out")
  local rc
  rc=$(sed -n 's/^ *Response codes: *//p' <<<"$out")
  awk -v m="$1" -v n="$n" -v q="$qps" -v l="$lost" -v t=$((c1 - c0)) -v hz="$hz" -v rc="$rc" \
    'BEGIN { printf "%-4s %10.0f qps  %6.1f cpu-us/query  (%d queries, %d lost; %s)\n", m, q, (n > 0 ? t * 1e6 / hz / n : 0), n, l, rc }'
}
modes=(udp tcp dot doh)
for r in $(seq "$rounds"); do
  echo "# round $r"
  if [ $((r % 2)) -eq 0 ]; then modes=(doh dot tcp udp); else modes=(udp tcp dot doh); fi
  for m in "${modes[@]}"; do run "$m"; done
done
