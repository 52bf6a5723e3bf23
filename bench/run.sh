#!/usr/bin/env bash
# `make bench`: the product side by side with the peers of ../shared/bench on
# this machine (one core for the server, dnsperf on the other), then the kit's
# summary and the table of ratios to the best peer (bench/ratios.py). Results
# go to bench/results/<stamp>/ (BENCH_OUT overrides). Needs root (the kit
# binds port 53 and adds a loopback address).
#
#   bench/run.sh [--unsigned] [--chain example|bench] [run-peers.sh options]
#
# By default W2 and W3 run on a DNSSEC-signed copy of the kit's fake internet
# (bench/signed-internet.sh, fresh keys each run) with validation on: the
# node validates from the fake root's anchor, and the peers
# `unbound-validating` and `pdns-validating` (bench/validating-peer.sh: the
# kit's configuration of Unbound and PowerDNS Recursor plus their validator
# and the same anchor) are what it is compared with there. Kit peers run
# unchanged (no validation) on the same signed zones. W1 does not touch the
# internet and is the same in both modes.
#   --unsigned       the kit's unsigned internet, validation off everywhere
#                    (the runs before issue 21; validating peers refused)
#   --chain bench    resolverd with the trimmed chain of the earlier runs
#                    instead of Corefile.example's (RESOLVERD_CHAIN)
# Without -p: the best peers of each workload in the kit's first full run,
# NSD (W1), Unbound and PowerDNS Recursor (W2), Unbound (W3), validating
# ones on the signed internet; the kit's defaults otherwise (every workload,
# 2 rounds, 10 s a level).
# The kit's fixed-rate probe (W1 and W2 at 10k qps, W3 at 2k) gives the CPU
# per query at ordinary load and the p99 that ratios.py reports.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The kit sits beside the main checkout (../shared/bench), and a worktree
# is one level deeper (/work/wt/NAME).
if [ -z "${BENCH_KIT:-}" ]; then
  for BENCH_KIT in "$here/../../shared/bench" "$here/../../../shared/bench"; do
    [ -f "$BENCH_KIT/run-peers.sh" ] && break
  done
fi
kit=$(cd "$BENCH_KIT" 2>/dev/null && pwd) || kit=$BENCH_KIT
[ -f "$kit/run-peers.sh" ] || { echo "benchmark kit not found at $kit (set BENCH_KIT)" >&2; exit 2; }
export BENCH_KIT=$kit  # for bench/validating-peer.sh
export BENCH_WORK=${BENCH_WORK:-/var/tmp/dnsbench}

signed=1
args=() peers="" check=0
while [ $# -gt 0 ]; do
  case $1 in
  --unsigned) signed=0; shift ;;
  --chain) export RESOLVERD_CHAIN=$2; shift 2 ;;
  -p) peers=$2; shift 2 ;;
  --check) check=1; args+=("$1"); shift ;;
  *) args+=("$1"); shift ;;
  esac
done
if [ -z "$peers" ]; then
  if ((signed)); then peers=nsd,unbound-validating,pdns-validating; else peers=nsd,unbound,pdns; fi
fi

# The validating peers are ours (--peer-cmd); the rest go to the kit's -p.
# PowerDNS Recursor validates in W2 only: it was 2.6x Unbound's CPU per
# query in W3 (the kit's first run), never the best peer there.
# resolverd-novalidation is the node with validation off on the signed
# internet: beside the kit's (non-validating) unbound, what validation costs
# each.
declare -A ext=(
  [unbound-validating]="W2,W3:$here/validating-peer.sh unbound"
  [pdns-validating]="W2:$here/validating-peer.sh pdns"
  [resolverd-novalidation]="W2,W3:env RESOLVERD_VALIDATION=off $here/resolverd-peer.sh"
)
kitpeers=() extargs=() validating=(resolverd)
IFS=, read -ra plist <<<"$peers"
for p in "${plist[@]}"; do
  if [ -n "${ext[$p]:-}" ]; then
    ((signed)) || [[ $p != *-validating ]] || { echo "bench: $p needs the signed internet (drop --unsigned)" >&2; exit 2; }
    extargs+=(--peer-cmd "$p:${ext[$p]}")
    if [[ $p == *-validating ]]; then validating+=("$p"); fi
  else
    kitpeers+=("$p")
  fi
done
# The kit runs all its peers when -p is empty: NSD takes W1 only, so it
# stands in for "none of the kit's" in a W2/W3 run.
[ ${#kitpeers[@]} -gt 0 ] || kitpeers=(nsd)
args+=(-p "$(IFS=,; echo "${kitpeers[*]}")")

(cd "$here/.." && go build -o resolverd ./cmd/resolverd)
rev="$(git -C "$here/.." rev-parse --short HEAD)$(git -C "$here/.." diff --quiet HEAD -- . ':!bench/results' || echo '+dirty')"

# The kit's data (gen-data.py: fixed seed), made here when missing so that
# the signed copy has something to copy; the kit makes it the same way.
base=$BENCH_WORK/data
if ! [ -f "$base/MANIFEST" ] || ! grep -qx "seed=${SEED:-20240101}" "$base/MANIFEST" ||
  ! grep -qx "cold=${COLD_NAMES:-1000000}" "$base/MANIFEST" || ! [ "$base/MANIFEST" -nt "$kit/gen-data.py" ]; then
  python3 "$kit/gen-data.py" --out "$base" --seed "${SEED:-20240101}" --cold "${COLD_NAMES:-1000000}"
fi
if ((signed)); then
  export DATA=$BENCH_WORK/data-signed
  bash "$here/signed-internet.sh" "$base" "$DATA"
else
  export DATA=$base
  validating=()
fi

product=(--peer-cmd "resolverd:W1,W2,W3:$here/resolverd-peer.sh")
if ((check)); then
  # The kit's check (every peer answers), then on the signed internet that
  # the validating ones set AD.
  rc=0
  bash "$kit/run-peers.sh" "${args[@]}" "${product[@]}" "${extargs[@]}" || rc=1
  if ((signed)); then bash "$here/check-validation.sh" "${validating[@]}" || rc=1; fi
  exit $rc
fi
out=${BENCH_OUT:-$here/results/$(date -u +%Y%m%d-%H%M)}
mkdir -p "$out"
load0=$(cut -d' ' -f1-3 /proc/loadavg)
bash "$kit/run-peers.sh" "${args[@]}" --out "$out" "${product[@]}" "${extargs[@]}"
{
  echo "resolverd: $rev (built at the start) chain=${RESOLVERD_CHAIN:-example}"
  if ((signed)); then
    echo "internet: signed ($DATA; its MANIFEST above)"
  else
    echo "internet: unsigned ($DATA)"
  fi
  # ratios.py compares the validating product with validating peers only
  # in W2 and W3.
  echo "validating: ${validating[*]}"
  echo "load average before: $load0; after: $(cut -d' ' -f1-3 /proc/loadavg)"
} >>"$out/env.txt"
# dnsperf's raw output is megabytes: keep it next to the kit's scratch, not in the repo.
if [ -d "$out/raw" ]; then
  raw=$BENCH_WORK/raw-$(basename "$out")
  rm -rf "$raw" && mv "$out/raw" "$raw"
fi
python3 "$here/ratios.py" "$out/results.tsv" | tee "$out/ratios.md"
