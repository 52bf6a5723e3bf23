package main

import (
	"runtime/debug"
	"strconv"
	"strings"
)

// defaultGCPercent is the collector's target when GOGC is not set. Go's 100
// suits a heap that is mostly garbage; ours is mostly caches (RRsets, packet
// cache, precomputed answers) that live for minutes, so at 100 every cold
// resolution paid about 10 % of its CPU to re-mark them. 400 lets the heap
// grow to five times what is live (bounded by the configured cache sizes).
const defaultGCPercent = 400

// cgroupMemoryMax is where cgroup v2 says how much memory the process may use.
const cgroupMemoryMax = "/sys/fs/cgroup/memory.max"

// tuneGC applies the defaults unless the operator chose: GOGC set means the
// percent is theirs, GOMEMLIMIT set means the limit is theirs. Without
// GOMEMLIMIT, a cgroup memory limit (container) becomes a soft limit at 90 %
// of it, so the larger heap target never turns into an OOM kill: near the
// limit the collector runs more often instead.
func tuneGC(getenv func(string) string, readFile func(string) ([]byte, error)) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	if getenv("GOMEMLIMIT") == "" {
		if limit := cgroupLimit(readFile); limit > 0 {
			debug.SetMemoryLimit(limit / 10 * 9)
		}
	}
}

// cgroupLimit returns the cgroup v2 memory limit in bytes, 0 when there is
// none ("max"), no cgroup v2, or the file cannot be read.
func cgroupLimit(readFile func(string) ([]byte, error)) int64 {
	b, err := readFile(cgroupMemoryMax)
	if err != nil {
		return 0
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || v <= 0 {
		return 0
	}
	return v
}
