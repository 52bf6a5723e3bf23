package lab

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Proc is a process started in a namespace with `ip netns exec`, in its own
// process group, with stdout and stderr captured in a log file.
type Proc struct {
	Name    string
	LogPath string

	cmd  *exec.Cmd
	done chan struct{}
	mu   sync.Mutex
	err  error
}

// startProc starts argv inside namespace ns. The process is the group
// leader of a new process group: Stop signals the whole group.
func startProc(name, ns, logPath string, env []string, argv ...string) (*Proc, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	fmt.Fprintf(f, "=== %s start %s: %v\n", time.Now().UTC().Format(time.RFC3339Nano), name, argv)
	args := append([]string{"netns", "exec", ns}, argv...)
	cmd := exec.Command("ip", args...)
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Name: name, LogPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		fmt.Fprintf(f, "=== %s exit %s: %v\n", time.Now().UTC().Format(time.RFC3339Nano), name, err)
		f.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process id (and process group id).
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Running says whether the process has not exited yet.
func (p *Proc) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Stop sends sig to the process group, waits up to grace, then SIGKILLs the
// group. It returns the exit error of the process (nil when it exited 0).
func (p *Proc) Stop(sig syscall.Signal, grace time.Duration) error {
	if !p.Running() {
		return p.exitErr()
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, sig)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			return fmt.Errorf("%s (pgid %d) did not exit after SIGKILL", p.Name, pgid)
		}
	}
	return p.exitErr()
}

func (p *Proc) exitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Log returns the captured output (the last max bytes).
func (p *Proc) Log(max int) string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	if max > 0 && len(b) > max {
		b = append([]byte("...\n"), b[len(b)-max:]...)
	}
	return string(bytes.TrimRight(b, "\n"))
}

// stopAll stops processes in reverse start order.
func stopAll(ps []*Proc) error {
	var errs []error
	for i := len(ps) - 1; i >= 0; i-- {
		if err := ps[i].Stop(syscall.SIGTERM, 5*time.Second); err != nil && !isSignalExit(err) {
			errs = append(errs, fmt.Errorf("%s: %w", ps[i].Name, err))
		}
	}
	return errors.Join(errs...)
}

func isSignalExit(err error) bool {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return true
		}
		return ee.ExitCode() == -1 || ee.ExitCode() == 143 || ee.ExitCode() == 130
	}
	return false
}
