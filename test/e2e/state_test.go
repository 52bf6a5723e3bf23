package e2e

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
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

// TestSIGTERMDrainsInFlight: 8 UDP and 8 TCP queries wait on a 1 s
// upstream when the node gets SIGTERM; every one of them is answered
// before the process exits (it stops reading, answers what is in flight
// within its drain deadline, then exits, status 0).
func TestSIGTERMDrainsInFlight(t *testing.T) {
	n, asked := hardenedNode(t, time.Second, "")
	// One answer first: a server that never answered gets few queries at
	// once (resolver, seed 003).
	if r, _, err := (&dns.Client{Timeout: 5 * time.Second}).Exchange(new(dns.Msg).SetQuestion("warm.slow.test.", dns.TypeA), n.addr()); err != nil || r.Rcode != dns.RcodeSuccess {
		t.Fatalf("warm-up: %v %v", r, err)
	}
	asked.Store(0)
	type result struct {
		netw string
		r    *dns.Msg
		err  error
	}
	results := make(chan result, 16)
	for i := range 8 {
		for _, netw := range []string{"udp", "tcp"} {
			go func() {
				m := new(dns.Msg)
				m.SetQuestion(fmt.Sprintf("q%d-%s.slow.test.", i, netw), dns.TypeA)
				c := &dns.Client{Net: netw, Timeout: 5 * time.Second}
				r, _, err := c.Exchange(m, n.addr())
				results <- result{netw, r, err}
			}()
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for asked.Load() < 16 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if asked.Load() < 16 {
		t.Fatalf("the upstream was asked %d times, want 16 queries in flight", asked.Load())
	}
	if err := syscall.Kill(n.cmd.Process.Pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- n.cmd.Wait() }()
	answered := map[string]int{}
	for range 16 {
		res := <-results
		if res.err != nil || res.r == nil || res.r.Rcode != dns.RcodeSuccess || len(res.r.Answer) != 1 {
			t.Errorf("%s query in flight at SIGTERM: %v %v", res.netw, res.r, res.err)
			continue
		}
		answered[res.netw]++
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no exit within 15 s of SIGTERM")
	}
	n.cmd = nil
	if answered["udp"] != 8 || answered["tcp"] != 8 {
		t.Fatalf("answered %v, want 8 udp and 8 tcp", answered)
	}
}

// TestStartupMistakesFailFast: with no last good revision, a Corefile
// naming a cluster or node the repository does not have, or a local
// repository path that does not exist, stops the process at once, non-zero,
// naming the Corefile line (it used to answer SERVFAIL to everything).
func TestStartupMistakesFailFast(t *testing.T) {
	repo := newConfigRepo(t, baseFiles())
	for _, tc := range []struct {
		name, repoDir, cluster, node, want string
	}{
		{"cluster", repo.dir, "prod", "local", `:6: cluster "prod" is not in`},
		{"node", repo.dir, "dev", "nope", `:7: node "nope" is not in cluster dev`},
		{"repo path", repo.dir + "-missing", "dev", "local", ":4: repo " + repo.dir + "-missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newClusterNode(t, tc.repoDir, t.TempDir(), nodeSpec{cluster: tc.cluster, name: tc.node})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, resolverdBin, "-conf", n.corefile).CombinedOutput()
			var exit *exec.ExitError
			if ctx.Err() != nil || !errors.As(err, &exit) || exit.ExitCode() == 0 {
				t.Fatalf("resolverd with a wrong %s did not exit non-zero (err %v):\n%s", tc.name, err, out)
			}
			if !strings.Contains(string(out), n.corefile+tc.want) {
				t.Fatalf("the error does not name %s%s:\n%s", n.corefile, tc.want, out)
			}
		})
	}
}
