#!/usr/bin/env bash
# The kit's fixed-rate probe without the kit: the CPU a server spends per
# query at ordinary load, servers side by side in one run.
#
#   bench/fixedrate.sh [-w W1|W2|W3] [-r ROUNDS] [-Q QPS] [-l SECS] [-i IDLESECS] SERVER...
#   bench/fixedrate.sh [-Q QPS] -S RESULTS.tsv    (the summary of an earlier run again)
#
# W1 (default): internal names. SERVER is a resolverd binary, or `nsd` for
# NSD with the kit's configuration.
# W2: cache hits on external names, on the DNSSEC-signed copy of the kit's
# fake internet (bench/signed-internet.sh; made in $BENCH_WORK/data-signed
# when missing), which this script serves for the whole run with the kit's
# fake-internet.sh (three NSD on 127.53.0.1-3, core 1). SERVER is a
# resolverd binary (validating from the fake root's anchor, as `make bench`
# runs it), `novalidation:BIN` (that binary with validation off),
# `unbound-validating` or `pdns-validating` (bench/validating-peer.sh: the
# kit's configuration plus the validator and the same anchor). Each is
# warmed as the kit warms W2: every key of w2-warm.txt twice, then 2 s of
# w2-external.txt at full speed.
# W3: cold recursion on the same signed internet, for the same SERVERs as
# W2: unique names under wild.example.com (w3-cold.txt, each name asked
# once: dnsperf -n 1, so every query is a miss and a validation). Each is
# warmed as the kit warms W3: w3-warm.txt one query at a time for up to
# 10 s, and not with the probe's own names (they would be cache hits).
# The kit probes W3 at 2,000 qps for 5 s: -w W3 -Q 2000 -l 5.
#
# Each round runs every SERVER in turn (the order alternates between rounds):
# a resolverd is started by bench/resolverd-peer.sh (Corefile.example's
# chain), every server pinned to core 0 (GOMAXPROCS as the runtime picks it
# there: 1), warmed (W1: 2 s of W1 at full speed), left idle for IDLESECS
# (default 0, as the kit: the probe follows the warm-up), then
# `dnsperf -c 10 -q 100 -Q QPS -l SECS` on core 1; the server's CPU ticks
# (utime+stime of every thread of its process group, /proc/PID/stat: the
# scheduler's exact runtime, in 1/100 s) over the run give CPU µs per
# answered query. When perf is installed, `perf stat` over the same run
# counts the process group's task-clock (CPU time to the µs), system calls,
# context switches and page faults (these in its csv only). One TSV line
# per run on stdout (and in $OUT/results.tsv), then the medians [min-max]
# per server on stderr and in $OUT/summary.md (of the runs that kept 98 %
# of the rate: see summary):
#   round server cpu_us_per_q perf_us_per_q qps syscalls_per_q ctxsw_per_q idle_ctxsw_per_s avg_ms p50_ms p99_ms load1
# (latencies from `dnsperf -v`, as the kit's probe takes them)
# -b BURST sends the probe's queries in bursts of BURST back to back, at
# the same average rate (bench/burst, built into $BENCH_WORK on first use;
# it prints what dnsperf -v prints): how a server copes with the bursts a
# client or network that stalled delivers. W3's names are each asked once
# either way.
# PERF=1 also records `perf record -e cpu-clock -g` of the server during
# the run (to $OUT/perf-<server>-r<round>.data). GOTRACE=HOST:PORT takes a
# Go execution trace and a CPU profile of each resolverd over the run (to
# $OUT/trace-<server>-r<round>.out and cpu-<server>-r<round>.pprof) from
# the pprof plugin of a Corefile that has one: RESOLVERD_COREFILE=a copy
# of Corefile.example with `pprof HOST:PORT`.
# Listens on 127.77.0.1 (not the kit's 127.54.0.1, so it cannot answer a
# `make bench` beside it). Run it under flock /work/coord/bench.lock all the
# same: the cores are shared, and W2's fake internet takes the kit's
# addresses. Data: $BENCH_DATA (default /var/tmp/dnsbench/data for W1,
# /var/tmp/dnsbench/data-signed for W2 and W3, made by the kit and
# signed-internet.sh).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
rounds=3 qps=10000 secs=10 idle=0 workload=W1 resummarize= burst=0
while getopts w:r:Q:l:i:S:b: o; do
  case $o in
  w) workload=$OPTARG ;; r) rounds=$OPTARG ;; Q) qps=$OPTARG ;; l) secs=$OPTARG ;; i) idle=$OPTARG ;;
  S) resummarize=$OPTARG ;; b) burst=$OPTARG ;;
  *) exit 2 ;;
  esac
done
shift $((OPTIND - 1))
if [ -n "$resummarize" ]; then
  # summary is defined below; this mode stops before anything starts.
  eval "$(sed -n '/^summary() {$/,/^}$/p' "${BASH_SOURCE[0]}")"
  summary "$resummarize"
  exit
fi
usage="usage: $0 [-w W1|W2|W3] [-r ROUNDS] [-Q QPS] [-l SECS] [-i IDLESECS] [-b BURST] SERVER..."
[ $# -gt 0 ] || { echo "$usage" >&2; exit 2; }
export BENCH_WORK=${BENCH_WORK:-/var/tmp/dnsbench}
# -b: the probe is bench/burst instead of dnsperf (see the header).
probe=()
if ((burst > 0)); then
  probe=("$BENCH_WORK/burst" -B "$burst")
  (cd "$here/.." && go build -o "${probe[0]}" ./bench/burst) || { echo "fixedrate: cannot build bench/burst" >&2; exit 2; }
fi
case $workload in
W1)
  export BENCH_DATA=${BENCH_DATA:-$BENCH_WORK/data}
  qfile=$BENCH_DATA/queries/w1-internal.txt ready=(ns1.corp.internal A)
  ;;
W2)
  export BENCH_DATA=${BENCH_DATA:-$BENCH_WORK/data-signed}
  qfile=$BENCH_DATA/queries/w2-external.txt ready=(example.com A)
  ;;
W3)
  export BENCH_DATA=${BENCH_DATA:-$BENCH_WORK/data-signed}
  qfile=$BENCH_DATA/queries/w3-cold.txt ready=(example.com A)
  ;;
*) echo "$usage" >&2; exit 2 ;;
esac
for s in "$@"; do
  case $workload:$s in
  W1:nsd | W[23]:unbound-validating | W[23]:pdns-validating | W[23]:novalidation:*) ;;
  *:nsd | *:*-validating | *:novalidation:*) echo "fixedrate: $s does not serve $workload" >&2; exit 2 ;;
  *) [ -x "$s" ] || { echo "fixedrate: $s is not an executable (a resolverd binary)" >&2; exit 2; } ;;
  esac
done
export BENCH_ADDR=${BENCH_ADDR:-127.77.0.1} BENCH_PORT=${BENCH_PORT:-53}
export BENCH_ROOT_HINTS=$BENCH_DATA/root.hints BENCH_WORKLOAD=$workload
OUT=${OUT:-$(mktemp -d /tmp/fixedrate.XXXXXX)}
mkdir -p "$OUT"
hz=$(getconf CLK_TCK)
pid=
perfstat=0
command -v perf >/dev/null && perfstat=1

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
cleanup() {
  stop
  if [ "$workload" != W1 ]; then fi_stop; fi
}
trap cleanup EXIT

if [ "$workload" != W1 ]; then
  # The kit's fake internet on the signed zones, up for the whole run.
  if [ -z "${BENCH_KIT:-}" ]; then
    for BENCH_KIT in "$here/../../shared/bench" "$here/../../../shared/bench"; do
      [ -f "$BENCH_KIT/fake-internet.sh" ] && break
    done
  fi
  [ -f "$BENCH_KIT/fake-internet.sh" ] || { echo "fixedrate: benchmark kit not found at $BENCH_KIT (set BENCH_KIT)" >&2; exit 2; }
  export BENCH_KIT
  if ! [ -f "$BENCH_DATA/trust-anchors.zone" ]; then
    [ -f "$BENCH_WORK/data/MANIFEST" ] || { echo "fixedrate: no $BENCH_WORK/data: run the kit (make bench) once" >&2; exit 2; }
    bash "$here/signed-internet.sh" "$BENCH_WORK/data" "$BENCH_DATA"
  fi
  export DATA=$BENCH_DATA
  set +u
  # shellcheck source=/dev/null
  source "$BENCH_KIT/fake-internet.sh"
  set -u
  fi_start
fi

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

run() { # round server
  local round=$1 srv=$2 name
  case $srv in
  nsd | *-validating) name=$srv ;;
  novalidation:*) name=$(basename "${srv#novalidation:}")-novalidation ;;
  *) name=$(basename "$srv") ;;
  esac
  export BENCH_RUNDIR=$OUT/run-$name
  rm -rf "$BENCH_RUNDIR"; mkdir -p "$BENCH_RUNDIR"
  case $srv in
  nsd)
    nsd_conf >"$BENCH_RUNDIR/nsd.conf"
    setsid taskset -c 0 nsd -d -c "$BENCH_RUNDIR/nsd.conf" >"$BENCH_RUNDIR/log" 2>&1 &
    ;;
  unbound-validating | pdns-validating)
    setsid taskset -c 0 "$here/validating-peer.sh" "${srv%-validating}" >"$BENCH_RUNDIR/log" 2>&1 &
    ;;
  novalidation:*)
    RESOLVERD=${srv#novalidation:} RESOLVERD_VALIDATION=off setsid taskset -c 0 "$here/resolverd-peer.sh" >"$BENCH_RUNDIR/log" 2>&1 &
    ;;
  *)
    RESOLVERD=$srv setsid taskset -c 0 "$here/resolverd-peer.sh" >"$BENCH_RUNDIR/log" 2>&1 &
    ;;
  esac
  pid=$!
  wait_answer "$BENCH_ADDR" "$BENCH_PORT" "${ready[@]}" 30 ||
    { echo "$name did not answer; log: $BENCH_RUNDIR/log" >&2; stop; return 1; }
  local once=()
  case $workload in
  W2)
    # As the kit warms W2: every key twice through the fake internet, then
    # as W1.
    timeout 60 taskset -c 1 dnsperf -s "$BENCH_ADDR" -p "$BENCH_PORT" -d "$BENCH_DATA/queries/w2-warm.txt" -n 2 -c 4 -q 20 >/dev/null 2>&1
    ;&
  W1)
    timeout 40 taskset -c 1 dnsperf -s "$BENCH_ADDR" -p "$BENCH_PORT" -d "$qfile" -c 10 -q 100 -l 2 >/dev/null 2>&1
    ;;
  W3)
    # As the kit warms W3: the warm-up names one at a time (the delegations
    # and keys), never the probe's names, which are then asked once each.
    timeout 40 taskset -c 1 dnsperf -s "$BENCH_ADDR" -p "$BENCH_PORT" -d "$BENCH_DATA/queries/w3-warm.txt" -n 1 -c 1 -q 1 -l 10 >/dev/null 2>&1
    once=(-n 1)
    ;;
  esac
  local c0 c1 t0 t1 w0 w1 perfpid= statpid= pids node=0
  w0=$(ctxsw "$pid"); sleep "$idle"; w1=$(ctxsw "$pid")
  pids=$(pgrep -g "$pid" | paste -sd,)
  if [ "${PERF:-0}" = 1 ]; then
    perf record -q -e cpu-clock -g -p "$pids" -o "$OUT/perf-$name-r$round.data" -- sleep "$secs" >/dev/null 2>&1 &
    perfpid=$!
  fi
  case $srv in nsd | *-validating) ;; *) node=1 ;; esac
  if [ -n "${GOTRACE:-}" ] && ((node)); then
    # GOTRACE=HOST:PORT: a Go execution trace of the node over the run, from
    # the pprof plugin of a Corefile that has one (RESOLVERD_COREFILE).
    # With a CPU profile beside it, the trace holds CPU samples too: the
    # stack of whatever holds the core through a stall.
    curl -s -o "$OUT/cpu-$name-r$round.pprof" "http://$GOTRACE/debug/pprof/profile?seconds=$secs" &
    perfpid="$perfpid $!"
    curl -s -o "$OUT/trace-$name-r$round.out" "http://$GOTRACE/debug/pprof/trace?seconds=$secs" &
    perfpid="$perfpid $!"
  fi
  rm -f "$OUT/perfstat-$name-r$round.csv"
  if ((perfstat)); then
    perf stat -x, -e task-clock,context-switches,page-faults,raw_syscalls:sys_enter -p "$pids" -o "$OUT/perfstat-$name-r$round.csv" -- sleep "$secs" >/dev/null 2>&1 &
    statpid=$!
  fi
  c0=$(ctxsw "$pid"); t0=$(ticks "$pid")
  if ((burst > 0)); then
    timeout $((secs + 30)) taskset -c 1 "${probe[@]}" -s "$BENCH_ADDR" -p "$BENCH_PORT" -d "$qfile" -Q "$qps" -l "$secs" >"$OUT/dnsperf-$name-r$round.out" 2>&1
  else
    timeout $((secs + 30)) taskset -c 1 dnsperf -s "$BENCH_ADDR" -p "$BENCH_PORT" -d "$qfile" "${once[@]}" -c 10 -q 100 -Q "$qps" -l "$secs" -v >"$OUT/dnsperf-$name-r$round.out" 2>&1
  fi
  t1=$(ticks "$pid"); c1=$(ctxsw "$pid")
  [ -z "$perfpid" ] || wait $perfpid || true
  [ -z "$statpid" ] || wait "$statpid" || true
  local done rate lat taskms=0 sys=0
  done=$(awk '/Queries completed:/ { print $3 }' "$OUT/dnsperf-$name-r$round.out")
  rate=$(awk '/Queries per second:/ { print $4 }' "$OUT/dnsperf-$name-r$round.out")
  lat=$(awk '/Average Latency/ { print $4 }' "$OUT/dnsperf-$name-r$round.out")
  # p50 and p99 of the answered queries (-v: "> RCODE name type latency")
  pct=$(awk '/^> / && $2 != "T" && $2 != "I" { print $NF }' "$OUT/dnsperf-$name-r$round.out" | sort -g |
    awk '{ a[NR] = $1 } END { if (NR == 0) { print "0 0"; exit } i = int(NR * 0.5); j = int(NR * 0.99); printf "%.3f %.3f\n", 1e3 * a[i < 1 ? 1 : i], 1e3 * a[j < 1 ? 1 : j] }')
  if [ -s "$OUT/perfstat-$name-r$round.csv" ]; then
    # perf stat -x,: value,unit,event,...; task-clock in ms
    taskms=$(awk -F, '$3 == "task-clock" { print $1 }' "$OUT/perfstat-$name-r$round.csv")
    sys=$(awk -F, '$3 == "raw_syscalls:sys_enter" { print $1 }' "$OUT/perfstat-$name-r$round.csv")
  fi
  stop
  awk -v r="$round" -v n="$name" -v t="$((t1 - t0))" -v hz="$hz" -v d="$done" -v q="$rate" \
    -v c="$((c1 - c0))" -v w="$((w1 - w0))" -v i="$idle" -v l="$(cut -d' ' -f1 /proc/loadavg)" \
    -v pm="${taskms:-0}" -v sc="${sys:-0}" -v lat="${lat:-0}" -v pct="$pct" \
    'BEGIN { split(pct, p, " "); printf "%s\t%s\t%.1f\t%.1f\t%.0f\t%.2f\t%.3f\t%.1f\t%.3f\t%.3f\t%.3f\t%s\n", r, n, 1e6 * t / hz / d, 1e3 * pm / d, q, sc / d, c / d, (i > 0 ? w / i : 0), 1e3 * lat, p[1], p[2], l }'
}

# summary TSV: per server, the median [min-max] of each column over the
# rounds in which it answered at the rate asked (98 % of QPS or more): a
# server starved of its core by other work answers fewer queries, each
# wake-up takes more of them, and its CPU per query falls, so such a run
# measures the machine, not the server. Those runs are counted apart.
summary() {
  awk -F'\t' -v want="$qps" 'NR > 1 {
      k = $2; if (!(k in n) && !(k in bad)) order[++ns] = k
      if ($5 < 0.98 * want) { bad[k]++; next }
      n[k]++; for (c = 3; c <= 11; c++) v[k, c, n[k]] = $c
    }
    function med(k, c,   m, i, j, t, a) {
      m = n[k]; if (m == 0) return "-"
      for (i = 1; i <= m; i++) a[i] = v[k, c, i] + 0
      for (i = 2; i <= m; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
      return sprintf("%s [%s–%s]", m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2, a[1], a[m])
    }
    END {
      print "| server | rounds (below the rate) | CPU µs/q (ticks) | CPU µs/q (perf task-clock) | qps | syscalls/q | ctxsw/q | avg latency ms | p50 ms | p99 ms |"
      print "|---|---|---|---|---|---|---|---|---|---|"
      for (i = 1; i <= ns; i++) { k = order[i]
        printf "| %s | %d (%d) | %s | %s | %s | %s | %s | %s | %s | %s |\n", k, n[k], bad[k], med(k, 3), med(k, 4), med(k, 5), med(k, 6), med(k, 7), med(k, 9), med(k, 10), med(k, 11) }
    }' "$1"
}

printf 'round\tserver\tcpu_us_per_q\tperf_us_per_q\tqps\tsyscalls_per_q\tctxsw_per_q\tidle_ctxsw_per_s\tavg_ms\tp50_ms\tp99_ms\tload1\n' | tee "$OUT/results.tsv"
for r in $(seq "$rounds"); do
  srvs=("$@")
  if [ $((r % 2)) = 0 ]; then
    rev=()
    for ((i = ${#srvs[@]} - 1; i >= 0; i--)); do rev+=("${srvs[i]}"); done
    srvs=("${rev[@]}")
  fi
  for s in "${srvs[@]}"; do
    run "$r" "$s" >>"$OUT/results.tsv"
    tail -n 1 "$OUT/results.tsv"
  done
done
{
  echo "workload $workload at $qps qps, $secs s a run, $rounds rounds; load $(cut -d' ' -f1-3 /proc/loadavg) at the end"
  echo
  summary "$OUT/results.tsv"
} | tee "$OUT/summary.md" >&2
echo "raw output in $OUT" >&2
