#!/usr/bin/env bash
# A peer of ../shared/bench with DNSSEC validation on, for the signed fake
# internet (bench/signed-internet.sh): the kit's own configuration of that
# peer (peers.sh, so everything else stays what the other runs measured),
# plus its validator and the fake root's trust anchor
# ($BENCH_DATA/trust-anchors.zone). Run by run-peers.sh as
#   --peer-cmd 'unbound-validating:W2,W3:bench/validating-peer.sh unbound'
#
#   validating-peer.sh unbound|pdns   (reads BENCH_ADDR BENCH_PORT BENCH_DATA BENCH_RUNDIR BENCH_WORKLOAD)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
kit=${BENCH_KIT:-$here/../../shared/bench}  # bench/run.sh exports where it found it
: "${BENCH_ADDR:?}" "${BENCH_PORT:?}" "${BENCH_DATA:?}" "${BENCH_RUNDIR:?}" "${BENCH_WORKLOAD:?}"
anchor=$BENCH_DATA/trust-anchors.zone
[ -f "$anchor" ] || { echo "validating-peer: no $anchor: the data dir is not a signed internet (bench/signed-internet.sh)" >&2; exit 1; }

# The kit's peer functions read these.
export SUT_ADDR=$BENCH_ADDR SUT_PORT=$BENCH_PORT DATA=$BENCH_DATA
set +u
# shellcheck source=/dev/null
source "$kit/lib.sh"
# shellcheck source=/dev/null
source "$kit/peers.sh"
set -u
r=$BENCH_RUNDIR
case ${1:-} in
unbound)
  peer_unbound "$BENCH_WORKLOAD" "$r"
  conf=$r/unbound.conf
  grep -q 'module-config: "iterator"' "$conf" || { echo "validating-peer: the kit's unbound.conf changed shape" >&2; exit 1; }
  # Unbound's default validating setup (validator before iterator), with a
  # static anchor for the fake root: nothing else differs from the kit's run.
  sed -i 's/module-config: "iterator"/module-config: "validator iterator"/' "$conf"
  printf 'server:\n  trust-anchor-file: "%s"\n' "$anchor" >>"$conf"
  unbound-checkconf "$conf" >/dev/null
  ;;
pdns)
  peer_pdns "$BENCH_WORKLOAD" "$r"
  conf=$r/recursor.conf
  grep -qx 'dnssec=off' "$conf" || { echo "validating-peer: the kit's recursor.conf changed shape" >&2; exit 1; }
  # PowerDNS Recursor's default mode is process-no-validate; validate is
  # what Unbound and resolverd do. Its built-in root anchor is replaced by
  # the fake root's (clearTA, then addTA with the DS rdata).
  sed -i 's/^dnssec=off$/dnssec=validate/' "$conf"
  ds=$(awk '$4 == "DS" { print $5, $6, $7, $8; exit }' "$anchor")
  [ -n "$ds" ] || { echo "validating-peer: no DS in $anchor" >&2; exit 1; }
  printf 'clearTA(".")\naddTA(".", "%s")\n' "$ds" >"$r/anchors.lua"
  echo "lua-config-file=$r/anchors.lua" >>"$conf"
  ;;
*)
  echo "usage: validating-peer.sh unbound|pdns" >&2
  exit 2
  ;;
esac
exec "${CMD[@]}"
