// Package proctest owns how tests run real daemons (NSD, Unbound) beside
// them: each in a process group of its own, stopped with the whole group
// (by its id, never by name) when the test ends.
package proctest

import (
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// Start starts cmd in a new process group and registers its stop: SIGTERM
// to the group, SIGKILL after grace if it is still there, then wait.
func Start(t testing.TB, cmd *exec.Cmd, grace time.Duration) error {
	t.Helper()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(grace):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
	return nil
}
