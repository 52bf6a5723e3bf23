# Shell functions shared by the bench scripts (sourced, not run).

# wait_answer ADDR PORT QNAME QTYPE SECONDS: wait, at most SECONDS, until
# the server at ADDR#PORT answers QNAME QTYPE with at least one record;
# false if it never does. dig prints its own failures ("communications
# error ... connection refused", "no servers could be reached") on stdout,
# even with +short, so a non-empty output alone is no answer: its exit
# status must be 0 as well (9 when no reply came).
wait_answer() {
  local addr=$1 port=$2 qn=$3 qt=$4 secs=$5 end out
  end=$((SECONDS + secs))
  while ((SECONDS < end)); do
    if out=$(dig +short +tries=1 +time=1 @"$addr" -p "$port" "$qn" "$qt" 2>/dev/null) && [ -n "$out" ]; then
      return 0
    fi
    sleep 0.2
  done
  return 1
}
