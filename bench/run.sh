#!/usr/bin/env bash
# `make bench`: the product side by side with the peers of ../shared/bench on
# this machine (one core for the server, dnsperf on the other), then the kit's
# summary and the table of ratios to the best peer (bench/ratios.py). Results
# go to bench/results/<stamp>/ (BENCH_OUT overrides). Needs root (the kit
# binds port 53 and adds a loopback address).
#
#   bench/run.sh [run-peers.sh options]     default: every workload, the best peers, 2 rounds
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
kit=${BENCH_KIT:-$here/../../shared/bench}
[ -x "$kit/run-peers.sh" ] || [ -f "$kit/run-peers.sh" ] || { echo "benchmark kit not found at $kit (set BENCH_KIT)" >&2; exit 2; }
(cd "$here/.." && go build -o resolverd ./cmd/resolverd)
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(-w W1,W2,W3 -p nsd,unbound,pdns,kresd,bind,coredns,dnsmasq -r 2)
out=${BENCH_OUT:-$here/results/$(date -u +%Y%m%d-%H%M)}
mkdir -p "$out"
bash "$kit/run-peers.sh" "${args[@]}" --out "$out" \
  --peer-cmd "resolverd:W1,W2,W3:$here/resolverd-peer.sh"
# dnsperf's raw output is megabytes: keep it next to the kit's scratch, not in the repo.
if [ -d "$out/raw" ]; then
  raw=${BENCH_WORK:-/var/tmp/dnsbench}/raw-$(basename "$out")
  rm -rf "$raw" && mv "$out/raw" "$raw"
fi
python3 "$here/ratios.py" "$out/results.tsv" | tee "$out/ratios.md"
