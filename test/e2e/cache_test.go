package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCacheFlushAndShow drives `dnsctl cache` (the real binary) against a
// node's gitops endpoint: show says what the resolver and the fast path's
// packet cache hold for a name (TTL left, fresh, from which server); flush
// of a name, of a subtree and of one type drops exactly that from both
// caches, which the upstream sees as new questions; the endpoint wants the
// token and counts flushes in metrics.
func TestCacheFlushAndShow(t *testing.T) {
	httpPort := freePort(t)
	token := filepath.Join(t.TempDir(), "sync.token")
	if err := os.WriteFile(token, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n, asked := forwardingNode(t, 0, nodeSpec{gitops: fmt.Sprintf("http 127.0.0.1:%d\n        sync_token_file %s", httpPort, token)})
	nodeAddr := fmt.Sprintf("127.0.0.1:%d", httpPort)
	ask := func(name, qtype string) {
		t.Helper()
		if out := dig(t, "@127.0.0.1", "-p", fmt.Sprint(n.port), "+short", name, qtype); qtype == "A" && out != "198.18.99.1" {
			t.Fatalf("dig %s %s: %q", name, qtype, out)
		}
	}
	dnsctlRun := func(want int, args ...string) string {
		t.Helper()
		cmd := exec.Command(dnsctlBin, args...)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != want {
			t.Fatalf("dnsctl %v: exit %d, want %d\n%s", args, code, want, out)
		}
		return string(out)
	}
	auth := []string{"--node", nodeAddr, "--token-file", token}
	expectAsked := func(want int32, when string) {
		t.Helper()
		if got := asked.Load(); got != want {
			t.Fatalf("%s: the upstream was asked %d times, want %d", when, got, want)
		}
	}

	// Three asks: the resolver caches the first answer, the packet cache
	// admits the second (door keeper) and answers the third.
	for range 3 {
		ask("a.slow.test.", "A")
	}
	expectAsked(1, "three asks of a.slow.test")
	show := dnsctlRun(0, append([]string{"cache", "show", "a.slow.test"}, auth...)...)
	t.Logf("dnsctl cache show a.slow.test:\n%s", show)
	for _, want := range []string{"resolver", "packet", "fresh", "127.0.0.1:", "198.18.99.1"} {
		if !strings.Contains(show, want) {
			t.Errorf("cache show lacks %q:\n%s", want, show)
		}
	}
	flush := dnsctlRun(0, append([]string{"cache", "flush", "a.slow.test"}, auth...)...)
	if !strings.Contains(flush, "flushed a.slow.test. on "+nodeAddr) || strings.Contains(flush, ": 0 entries") {
		t.Errorf("cache flush: %s", flush)
	}
	if show := dnsctlRun(0, append([]string{"cache", "show", "a.slow.test"}, auth...)...); !strings.Contains(show, "nothing cached for a.slow.test.") {
		t.Errorf("after the flush, cache show:\n%s", show)
	}
	ask("a.slow.test.", "A")
	expectAsked(2, "after flushing a.slow.test")

	// A subtree: both names below slow.test. go, nothing else.
	for range 3 {
		ask("b.x.slow.test.", "A")
		ask("c.slow.test.", "A")
	}
	expectAsked(4, "three asks of b.x and c")
	dnsctlRun(0, append([]string{"cache", "flush", "x.slow.test", "--subtree"}, auth...)...)
	ask("c.slow.test.", "A")
	expectAsked(4, "c after flushing x.slow.test and below")
	ask("b.x.slow.test.", "A")
	expectAsked(5, "b.x after flushing x.slow.test and below")

	// One type: AAAA goes, A stays.
	for range 3 {
		ask("d.slow.test.", "A")
		ask("d.slow.test.", "AAAA")
	}
	before := asked.Load()
	dnsctlRun(0, append([]string{"cache", "flush", "d.slow.test", "--type", "AAAA"}, auth...)...)
	ask("d.slow.test.", "A")
	expectAsked(before, "A after flushing d's AAAA")
	ask("d.slow.test.", "AAAA")
	expectAsked(before+1, "AAAA after flushing d's AAAA")

	if got := n.metric("coredns_gitops_cache_flushes_total"); got != 3 {
		t.Errorf("coredns_gitops_cache_flushes_total = %v, want 3", got)
	}
	// Without the token: refused, nothing flushed.
	bad := filepath.Join(t.TempDir(), "wrong")
	os.WriteFile(bad, []byte("guess"), 0o600)
	out := dnsctlRun(exitCannotRunE2E, "cache", "flush", "d.slow.test", "--node", nodeAddr, "--token-file", bad)
	if !strings.Contains(out, "401") {
		t.Errorf("wrong token: %s", out)
	}
	if got := n.metric("coredns_gitops_cache_flushes_total"); got != 3 {
		t.Errorf("a refused flush was counted: %v", got)
	}
}

// exitCannotRunE2E is dnsctl's exit status 2 (could not run).
const exitCannotRunE2E = 2
