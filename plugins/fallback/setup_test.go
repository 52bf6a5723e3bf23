package fallback

import (
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"

	"github.com/gitops-dns/resolverd/plugins/internal/corefiletest"
)

func TestSetup(t *testing.T) {
	tests := []struct {
		input   string
		wantErr string
		timeout time.Duration
	}{
		{"fallback", "", DefaultTimeout},
		{"fallback {\n}", "", DefaultTimeout},
		{"fallback {\n timeout 250ms\n}", "", 250 * time.Millisecond},
		{"fallback extra", "Wrong argument count", 0},
		{"fallback {\n timeout\n}", "Wrong argument count", 0},
		{"fallback {\n timeout soon\n}", "timeout: time: invalid duration", 0},
		{"fallback {\n timeout 0s\n}", "out of range", 0},
		{"fallback {\n timeout 1m\n}", "out of range", 0},
		{"fallback {\n ttl 5\n}", "unknown property 'ttl'", 0},
		{"fallback\nfallback", "only be used once", 0},
	}
	for _, tc := range tests {
		t.Run(tc.input, func(t *testing.T) {
			c := caddy.NewTestController("dns", tc.input)
			f, err := parse(c)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.Timeout != tc.timeout {
				t.Fatalf("timeout %s, want %s", f.Timeout, tc.timeout)
			}
			if err := setup(caddy.NewTestController("dns", tc.input)); err != nil {
				t.Fatalf("setup: %v", err)
			}
		})
	}
}

// TestReadmeExample parses the fallback block of README.md's Corefile
// example with the setup function, so the documentation cannot rot.
func TestReadmeExample(t *testing.T) {
	// The first example's block: the one with the timeout shown below.
	block := corefiletest.Directive(t, "README.md", "fallback")[0]
	c := caddy.NewTestController("dns", block)
	f, err := parse(c)
	if err != nil {
		t.Fatalf("README example %q: %v", block, err)
	}
	if f.Timeout != 2500*time.Millisecond {
		t.Fatalf("README example timeout %s, want the 2500ms it shows", f.Timeout)
	}
	if err := setup(caddy.NewTestController("dns", block)); err != nil {
		t.Fatal(err)
	}
}
