#!/usr/bin/env bash
# The kit's fixed-rate probe for W1 (internal names) without the kit: the
# CPU a server spends per query at ordinary load, binaries side by side.
#
#   bench/fixedrate.sh [-r ROUNDS] [-Q QPS] [-l SECS] [-i IDLESECS] BIN...
#
# BIN is a resolverd binary, or `nsd` for NSD with the kit's configuration.
# Each round runs every BIN in turn (the order alternates between rounds):
# a resolverd is started by bench/resolverd-peer.sh (Corefile.example's
# chain), every server pinned to core 0 (GOMAXPROCS as the runtime picks it
# there: 1), warmed with 2 s of W1 at full speed, left idle for IDLESECS
# (default 0, as the kit: the probe follows the warm-up), then
# `dnsperf -c 10 -q 100 -Q QPS -l SECS` on core 1; the server's CPU ticks
# (utime+stime of every thread of its process group, /proc/PID/stat: the
# scheduler's exact runtime, in 1/100 s) over the run give CPU µs per
# answered query. One TSV line per run on stdout:
#   round bin cpu_us_per_q qps ctxsw_per_q idle_ctxsw_per_s load1
# PERF=1 also records `perf record -e cpu-clock -g` of the server during
# the run (to $OUT/perf-<bin>-r<round>.data).
# Listens on 127.77.0.1 (not the kit's 127.54.0.1, so it cannot answer a
# `make bench` beside it: run it under flock /work/coord/bench.lock all the
# same, the cores are shared). Data: $BENCH_DATA (default
# /var/tmp/dnsbench/data, made by the kit).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
rounds=3 qps=10000 secs=10 idle=0
while getopts r:Q:l:i: o; do
  case $o in
  r) rounds=$OPTARG ;; Q) qps=$OPTARG ;; l) secs=$OPTARG ;; i) idle=$OPTARG ;;
  *) exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || { echo "usage: $0 [-r ROUNDS] [-Q QPS] [-l SECS] [-i IDLESECS] BIN|nsd..." >&2; exit 2; }
export BENCH_DATA=${BENCH_DATA:-/var/tmp/dnsbench/data}
export BENCH_ADDR=${BENCH_ADDR:-127.77.0.1} BENCH_PORT=${BENCH_PORT:-53}
export BENCH_ROOT_HINTS=$BENCH_DATA/root.hints
OUT=${OUT:-$(mktemp -d /tmp/fixedrate.XXXXXX)}
qfile=$BENCH_DATA/queries/w1-internal.txt
hz=$(getconf CLK_TCK)
pid=

# Sums over the process group $1 (NSD forks; the node's git helpers come and go).
ticks() {
  local p t=0 v
  for p in $(pgrep -g "$1"); do
    v=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$p/stat" 2>/dev/null) || continue
    t=$((t + ${v:-0}))
  done
  echo "$t"
}
ctxsw() { # voluntary + involuntary switches of every thread
  local p
  for p in $(pgrep -g "$1"); do cat /proc/"$p"/task/*/status 2>/dev/null || true; done |
    awk '/^(non)?voluntary_ctxt_switches/ { n += $2 } END { print n + 0 }'
}
stop() {
  [ -n "$pid" ] || return 0
  kill -TERM -- "-$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=
}
trap stop EXIT

# nsd_conf: NSD as the kit's peers.sh configures it.
nsd_conf() {
  cat <<EOF
server:
  ip-address: $BENCH_ADDR
  port: $BENCH_PORT
  server-count: 1
  do-ip6: no
  username: ""
  chroot: ""
  database: ""
  zonelistfile: "$BENCH_RUNDIR/zone.list"
  xfrdfile: "$BENCH_RUNDIR/xfrd.state"
  xfrdir: "$BENCH_RUNDIR"
  pidfile: "$BENCH_RUNDIR/nsd.pid"
  logfile: "$BENCH_RUNDIR/nsd.log"
  verbosity: 1
  rrl-ratelimit: 0
  rrl-whitelist-ratelimit: 0
remote-control:
  control-enable: no
zone:
  name: "corp.internal."
  zonefile: "$BENCH_DATA/zones/corp.internal.zone"
EOF
}

run() { # round bin
  local round=$1 bin=$2 name
  name=$(basename "$bin")
  export BENCH_RUNDIR=$OUT/run-$name
  rm -rf "$BENCH_RUNDIR"; mkdir -p "$BENCH_RUNDIR"
  if [ "$bin" = nsd ]; then
    nsd_conf >"$BENCH_RUNDIR/nsd.conf"
    setsid taskset -c 0 nsd -d -c "$BENCH_RUNDIR/nsd.conf" >"$BENCH_RUNDIR/log" 2>&1 &
  else
    RESOLVERD=$bin setsid taskset -c 0 "$here/resolverd-peer.sh" >"$BENCH_RUNDIR/log" 2>&1 &
  fi
  pid=$!
  wait_answer "$BENCH_ADDR" "$BENCH_PORT" ns1.corp.internal A 30 ||
    { echo "$name did not answer; log: $BENCH_RUNDIR/log" >&2; stop; return 1; }
  timeout 40 taskset -c 1 dnsperf -s "$BENCH_ADDR" -p "$BENCH_PORT" -d "$qfile" -c 10 -q 100 -l 2 >/dev/null 2>&1
  local c0 c1 t0 t1 w0 w1 perfpid=
  w0=$(ctxsw "$pid"); sleep "$idle"; w1=$(ctxsw "$pid")
  if [ "${PERF:-0}" = 1 ]; then
    perf record -q -e cpu-clock -g -p "$(pgrep -g "$pid" | paste -sd,)" -o "$OUT/perf-$name-r$round.data" -- sleep "$secs" >/dev/null 2>&1 &
    perfpid=$!
  fi
  c0=$(ctxsw "$pid"); t0=$(ticks "$pid")
  timeout $((secs + 30)) taskset -c 1 dnsperf -s "$BENCH_ADDR" -p "$BENCH_PORT" -d "$qfile" -c 10 -q 100 -Q "$qps" -l "$secs" >"$OUT/dnsperf-$name-r$round.out" 2>&1
  t1=$(ticks "$pid"); c1=$(ctxsw "$pid")
  [ -z "$perfpid" ] || wait "$perfpid" || true
  local done rate
  done=$(awk '/Queries completed:/ { print $3 }' "$OUT/dnsperf-$name-r$round.out")
  rate=$(awk '/Queries per second:/ { print $4 }' "$OUT/dnsperf-$name-r$round.out")
  stop
  awk -v r="$round" -v n="$name" -v t="$((t1 - t0))" -v hz="$hz" -v d="$done" -v q="$rate" \
    -v c="$((c1 - c0))" -v w="$((w1 - w0))" -v i="$idle" -v l="$(cut -d' ' -f1 /proc/loadavg)" \
    'BEGIN { printf "%s\t%s\t%.1f\t%.0f\t%.3f\t%.1f\t%s\n", r, n, 1e6 * t / hz / d, q, c / d, (i > 0 ? w / i : 0), l }'
}

printf 'round\tbin\tcpu_us_per_q\tqps\tctxsw_per_q\tidle_ctxsw_per_s\tload1\n'
for r in $(seq "$rounds"); do
  bins=("$@")
  if [ $((r % 2)) = 0 ]; then
    rev=()
    for ((i = ${#bins[@]} - 1; i >= 0; i--)); do rev+=("${bins[i]}"); done
    bins=("${rev[@]}")
  fi
  for b in "${bins[@]}"; do run "$r" "$b"; done
done
echo "raw output in $OUT" >&2
