#!/usr/bin/env bash
# Proves the signed bench validates: starts the kit's fake internet on the
# signed data ($DATA, bench/signed-internet.sh), then each validating server
# of the bench in turn on the kit's address, and asks it with `dig +dnssec`
# for a secure name, a CNAME, example.net, a wildcard name (W3's shape) and
# an NXDOMAIN: every answer must carry AD (RFC 4035 3.2.3). Run by
# `bench/run.sh --check` after the kit's own check; exits 1 on a miss.
#
#   DATA=... BENCH_KIT=... check-validation.sh PEER...   (resolverd unbound-validating pdns-validating)
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${DATA:?}" "${BENCH_KIT:?}"
[ -f "$DATA/trust-anchors.zone" ] || { echo "check-validation: $DATA is not a signed internet" >&2; exit 1; }
# shellcheck source=/dev/null
source "$BENCH_KIT/fake-internet.sh"
trap bg_stop_all EXIT
trap 'exit 130' INT TERM
fi_start
rc=0
for peer in "$@"; do
  case $peer in
  resolverd) cmd=("$here/resolverd-peer.sh") ;;
  unbound-validating) cmd=("$here/validating-peer.sh" unbound) ;;
  pdns-validating) cmd=("$here/validating-peer.sh" pdns) ;;
  *) continue ;;
  esac
  r=$BENCH_WORK/run/check-validation-$peer
  rm -rf "$r"; mkdir -p "$r"
  bg_start sut "$SERVER_CPU" "$r/server.log" env GOMAXPROCS=1 BENCH_ADDR="$SUT_ADDR" BENCH_PORT="$SUT_PORT" \
    BENCH_DATA="$DATA" BENCH_RUNDIR="$r" BENCH_WORKLOAD=W3 BENCH_ROOT_HINTS="$DATA/root.hints" "${cmd[@]}"
  if ! wait_dns "$SUT_ADDR" "$SUT_PORT" example.com A 60; then
    log "FAIL $peer did not answer; $r/server.log:"; tail -5 "$r/server.log" >&2
    rc=1; bg_stop sut; continue
  fi
  for q in "www.example.com A NOERROR" "c000.example.com A NOERROR" "h001.example.net A NOERROR" \
    "u-check-$RANDOM.wild.example.com A NOERROR" "missing00.example.com A NXDOMAIN"; do
    read -r qn qt want <<<"$q"
    out=$(dig @"$SUT_ADDR" -p "$SUT_PORT" "$qn" "$qt" +dnssec +tries=1 +time=3 2>&1)
    if grep -q "status: $want" <<<"$out" && grep -Eq '^;; flags:[a-z ]* ad[ ;]' <<<"$out"; then
      log "ok   $peer $qn $qt: $want, AD"
    else
      log "FAIL $peer $qn $qt: want $want with AD"; grep -E '^;; (->>|flags)' <<<"$out" >&2; rc=1
    fi
  done
  bg_stop sut
done
exit $rc
