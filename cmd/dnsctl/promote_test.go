package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

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
// serves the same revision.
func TestPromoteAfterBake(t *testing.T) {
	f := newVerifyFixture(t)
	h := f.commit("198.18.5.10")
	f.serve(h)
	if _, stderr, code := f.verify(h); code != exitOK {
		t.Fatalf("verify: %d %s", code, stderr)
	}
	canaryNode := "ns1=127.0.0.2:" + strconv.Itoa(f.port)

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
	// With a zero bake the canary is re-verified and production-baked moves.
	stdout, stderr, code := dnsctl(t, f.dir, "promote", h.String(), "--to", "production", "--after-bake", "--bake", "0s", "--node", canaryNode)
	if code != exitOK || f.originRef("refs/heads/production-baked") != h || !strings.Contains(stdout, "baked: baked/us-east/"+h.String()) {
		t.Fatalf("after-bake: %d\n%s\n%s", code, stdout, stderr)
	}
}
