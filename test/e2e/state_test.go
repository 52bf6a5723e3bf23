package e2e

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestStateDirLocked: a second resolverd on the state directory of a
// running one (its own ports) exits at once, non-zero, naming the PID of
// the process that holds the directory; the first keeps serving.
func TestStateDirLocked(t *testing.T) {
	repo := newConfigRepo(t, baseFiles())
	head, _ := repo.repo.Head()
	state := t.TempDir()
	first := newNode(t, repo.dir, state)
	first.start()
	first.waitServed(head.Hash().String(), 30*time.Second)

	second := newNode(t, repo.dir, state)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, resolverdBin, "-conf", second.corefile).CombinedOutput()
	var exit *exec.ExitError
	if ctx.Err() != nil || !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("a second resolverd on the state directory %s did not refuse to start (err %v):\n%s", state, err, out)
	}
	if want := fmt.Sprintf("process %d", first.cmd.Process.Pid); !strings.Contains(string(out), want) {
		t.Errorf("the refusal does not name the holder (%s):\n%s", want, out)
	}
	if r, err := first.query("udp", "www.corp.internal.", dns.TypeA, dns.ClassINET); err != nil || r.Rcode != dns.RcodeSuccess {
		t.Fatalf("the first node after the second start: %v %v", r, err)
	}
}
