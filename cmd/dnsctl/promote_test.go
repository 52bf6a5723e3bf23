package main

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gitops-dns/resolverd/cluster/model"
	"github.com/gitops-dns/resolverd/staging/stagingtest"

	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
)

func TestHTTPAuthFromFile(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content string
		want          string // "basic user pass", "token T", "" = nil, "error ..."
	}{
		{"basic", "# the bot\n\nbot:s3cret\n", "basic bot s3cret"},
		{"token", "  ghp_abc  \n", "token ghp_abc"},
		{"empty", "\n# nothing\n", "error no credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name)
			os.WriteFile(p, []byte(tc.content), 0o600)
			a, err := httpAuthFromFile(p)
			got := ""
			switch v := a.(type) {
			case *githttp.BasicAuth:
				got = "basic " + v.Username + " " + v.Password
			case *githttp.TokenAuth:
				got = "token " + v.Token
			}
			if err != nil {
				got = "error " + err.Error()
			}
			if !strings.HasPrefix(got, strings.Fields(tc.want)[0]) || !strings.Contains(got, strings.SplitN(tc.want, " ", 2)[1]) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
	if a, err := httpAuthFromFile(""); a != nil || err != nil {
		t.Fatalf("no file: %v %v", a, err)
	}
	if _, err := httpAuthFromFile(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("missing file accepted")
	}
}

// TestPromoteAfterBake: the canary (us-east, tracking production) takes the
// revision first; production-baked (eu-west) moves only after the bake.
// The canary's node is asked at a staging node's address (--node), which
// serves the same revision, and its self-probe history at --status.
func TestPromoteAfterBake(t *testing.T) {
	f := newVerifyFixture(t)
	h := f.commit("198.18.5.10")
	f.serve(h)
	if _, stderr, code := f.verify(h); code != exitOK {
		t.Fatalf("verify: %d %s", code, stderr)
	}
	canaryNode := "ns1=127.0.0.2:" + strconv.Itoa(f.port)
	// The canary node probes itself and serves its history, as resolverd does.
	status := stagingtest.StartStatus(t, "127.0.0.2", "us-east", "ns1", 50*time.Millisecond, time.Second, func() (string, string, []model.Probe) {
		n := f.nodes[0]
		n.mu.Lock()
		defer n.mu.Unlock()
		if n.rev == nil {
			return "127.0.0.2:" + strconv.Itoa(f.port), "", nil
		}
		return "127.0.0.2:" + strconv.Itoa(f.port), n.rev.ID, n.rev.Probes
	})

	// Before the canary took it: refused.
	_, stderr, code := dnsctl(t, f.dir, "promote", h.String(), "--to", "production", "--after-bake", "--node", canaryNode)
	if code != exitFindings || !strings.Contains(stderr, "refs/heads/production does not exist yet") {
		t.Fatalf("after-bake first: %d %q", code, stderr)
	}
	if _, stderr, code := dnsctl(t, f.dir, "promote", h.String(), "--to", "production"); code != exitOK {
		t.Fatalf("promote: %d %s", code, stderr)
	}
	// The canary has not been verified: the bake has not started.
	_, stderr, code = dnsctl(t, f.dir, "promote", h.String(), "--to", "production", "--after-bake", "--node", canaryNode)
	if code != exitFindings || !strings.Contains(stderr, "canary us-east") || !strings.Contains(stderr, "the bake starts at its first passing verification") {
		t.Fatalf("after-bake unverified canary: %d %q", code, stderr)
	}
	if _, stderr, code := dnsctl(t, f.dir, "verify", "--cluster", "us-east", h.String(), "--node", canaryNode, "--wait", "1s"); code != exitOK {
		t.Fatalf("verify canary: %d %s", code, stderr)
	}
	// The bake time (1h by default) has not passed.
	_, stderr, code = dnsctl(t, f.dir, "promote", h.String(), "--to", "production", "--after-bake", "--node", canaryNode)
	if code != exitFindings || !strings.Contains(stderr, "bake time not complete") {
		t.Fatalf("after-bake too early: %d %q", code, stderr)
	}
	if !f.originRef("refs/heads/production-baked").IsZero() {
		t.Fatal("production-baked moved before the bake")
	}
	// --watch waits out the bake (2s), probing the canary node from here
	// and reading its history meanwhile; then it is re-verified and
	// production-baked moves.
	stdout, stderr, code := dnsctl(t, f.dir, "promote", h.String(), "--to", "production", "--after-bake", "--bake", "2s", "--node", canaryNode,
		"--status", "ns1="+status.Addr.String(), "--watch", "--watch-every", "200ms")
	if code != exitOK || f.originRef("refs/heads/production-baked") != h || !strings.Contains(stdout, "baked: baked/us-east/"+h.String()) ||
		!strings.Contains(stdout, "watched: us-east/ns1 passed its gate probes throughout the bake") ||
		!strings.Contains(stdout, "runs of dnsctl probing it") || !strings.Contains(stdout, "self-probe runs") ||
		!strings.Contains(stderr, "of the bake remain") {
		t.Fatalf("after-bake --watch: %d\n%s\n%s", code, stdout, stderr)
	}

	// Where the canary node's status is must be said.
	_, stderr, code = dnsctl(t, f.dir, "promote", h.String(), "--to", "production", "--after-bake", "--bake", "1s", "--node", canaryNode)
	if code != exitCannotRun || !strings.Contains(stderr, "--status-port") || !strings.Contains(stderr, "--status ns1=ADDR:PORT") {
		t.Fatalf("after-bake without a status address: %d %q", code, stderr)
	}
	// A status that cannot be read shows nothing: refused.
	_, stderr, code = dnsctl(t, f.dir, "promote", h.String(), "--to", "production", "--after-bake", "--bake", "1s", "--node", canaryNode,
		"--status", "ns1="+deadAddr(t))
	if code != exitFindings || !strings.Contains(stderr, "us-east/ns1: its status cannot be read") {
		t.Fatalf("after-bake, status unreadable: %d %q", code, stderr)
	}
}

// deadAddr is a TCP address on 127.0.0.1 where nothing listens.
func deadAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
