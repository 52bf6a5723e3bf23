package gitrepo

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// LockFile is the name of the lock file of a state directory.
const LockFile = "lock"

// ErrLocked is wrapped by LockState when another process holds the lock.
var ErrLocked = errors.New("state directory is in use")

// StateLock is an exclusive lock on a state directory: one process at a
// time reads and writes it (two would see each other's half-written refs).
type StateLock struct {
	f *os.File
}

// LockState takes the exclusive lock (flock) on state directory dir,
// creating it if needed, and writes this process's PID in the lock file.
// When another process holds it, it returns at once an error wrapping
// ErrLocked that names the holder's PID. The lock goes with the process:
// a crash releases it.
func LockState(dir string) (*StateLock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, &Error{Class: ClassConfig, Op: "lock", URL: dir, Err: err}
	}
	p := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, &Error{Class: ClassConfig, Op: "lock", URL: p, Err: err}
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder := "another process"
		if data, rerr := os.ReadFile(p); rerr == nil {
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(data))); perr == nil && pid > 0 {
				holder = "process " + strconv.Itoa(pid)
			}
		}
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &Error{Class: ClassConfig, Op: "lock", URL: dir, Err: fmt.Errorf("%w by %s (lock file %s): one state directory per node process", ErrLocked, holder, p)}
		}
		return nil, &Error{Class: ClassConfig, Op: "lock", URL: p, Err: err}
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
		_ = f.Sync()
	}
	return &StateLock{f: f}, nil
}

// Release drops the lock. The PID stays in the file (the next holder
// overwrites it); only the flock says who holds it.
func (l *StateLock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the descriptor releases the flock
	l.f = nil
	return err
}
