package main

import (
	"errors"
	"io/fs"
	"runtime/debug"
	"testing"
)

func TestTuneGC(t *testing.T) {
	for _, tc := range []struct {
		name        string
		env         map[string]string
		cgroup      string // "" = no file
		wantPercent int    // what the runtime runs at afterwards
		wantLimit   int64  // what the runtime's soft limit is afterwards (math.MaxInt64 when none)
	}{
		{name: "defaults, no cgroup", wantPercent: defaultGCPercent, wantLimit: noLimit},
		{name: "defaults, cgroup without limit", cgroup: "max\n", wantPercent: defaultGCPercent, wantLimit: noLimit},
		{name: "defaults, cgroup limit", cgroup: "1073741824\n", wantPercent: defaultGCPercent, wantLimit: 1073741824 / 10 * 9},
		{name: "garbage in memory.max", cgroup: "lots\n", wantPercent: defaultGCPercent, wantLimit: noLimit},
		{name: "GOGC is the operator's", env: map[string]string{"GOGC": "150"}, wantPercent: startPercent, wantLimit: noLimit},
		{name: "GOMEMLIMIT is the operator's", env: map[string]string{"GOMEMLIMIT": "2GiB"}, cgroup: "1073741824", wantPercent: defaultGCPercent, wantLimit: noLimit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			debug.SetGCPercent(startPercent)
			debug.SetMemoryLimit(noLimit)
			t.Cleanup(func() { debug.SetGCPercent(startPercent); debug.SetMemoryLimit(noLimit) })
			read := func(path string) ([]byte, error) {
				if path != cgroupMemoryMax {
					t.Errorf("read %s, want %s", path, cgroupMemoryMax)
				}
				if tc.cgroup == "" {
					return nil, &fs.PathError{Op: "open", Path: path, Err: errors.New("no such file")}
				}
				return []byte(tc.cgroup), nil
			}
			tuneGC(func(k string) string { return tc.env[k] }, read)
			if got := debug.SetGCPercent(startPercent); got != tc.wantPercent {
				t.Errorf("GC percent %d, want %d", got, tc.wantPercent)
			}
			if got := debug.SetMemoryLimit(-1); got != tc.wantLimit {
				t.Errorf("memory limit %d, want %d", got, tc.wantLimit)
			}
		})
	}
}

const (
	startPercent = 100
	noLimit      = int64(^uint64(0) >> 1)
)
