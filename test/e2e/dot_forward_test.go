package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gitops-dns/resolverd/internal/pkitest"
)

// TestForwardOverTLSThroughTheNode: a forward rule of the config repo
// speaks DNS over TLS to its target (RFC 7858), verifying the certificate
// against the repo's CA file and the name after @ (RFC 8310 strict
// profile). dig asks the node; the answer comes over one reused TLS
// connection. A target whose certificate has another name, another CA or
// has expired is never asked: SERVFAIL with EDE 23 and an error log line
// naming the target.
func TestForwardOverTLSThroughTheNode(t *testing.T) {
	ca := pkitest.NewCA(t, "Corp DNS CA")
	other := pkitest.NewCA(t, "Someone else's CA")
	now := time.Now()
	good := pkitest.ServeDOT(t, "127.0.0.2", ca.IssueNow(t, 2, "dns.corp.test").TLS, "198.18.7.7")
	refused := []struct {
		zone string
		up   *pkitest.DOTServer
	}{
		{"wrong-name.test.", pkitest.ServeDOT(t, "127.0.0.3", ca.IssueNow(t, 3, "dns.other.test").TLS, "198.18.7.7")},
		{"unknown-ca.test.", pkitest.ServeDOT(t, "127.0.0.4", other.IssueNow(t, 4, "dns.corp.test").TLS, "198.18.7.7")},
		{"expired.test.", pkitest.ServeDOT(t, "127.0.0.5", ca.Issue(t, 5, now.Add(-48*time.Hour), now.Add(-time.Hour), "dns.corp.test").TLS, "198.18.7.7")},
	}
	rules := fmt.Sprintf("forward:\n  - zone: corp.test.\n    to: [\"tls://%s@dns.corp.test\"]\n    tls_ca: certs/corp-ca.pem\n", good.Addr.String())
	for _, r := range refused {
		rules += fmt.Sprintf("  - zone: %s\n    to: [\"tls://%s@dns.corp.test\"]\n    tls_ca: certs/corp-ca.pem\n", r.zone, r.up.Addr.String())
	}
	files := baseFiles()
	files["clusters/dev.yaml"] = devCluster + rules
	files["certs/corp-ca.pem"] = string(ca.PEM)
	repo := newConfigRepo(t, files)
	head, _ := repo.repo.Head()
	n := newNode(t, repo.dir, t.TempDir())
	n.start()
	n.waitServed(head.Hash().String(), 30*time.Second)

	for i := 0; i < 5; i++ {
		out := digFull(t, n, fmt.Sprintf("host%d.corp.test", i), "A", "+short")
		if out != "198.18.7.7" {
			t.Fatalf("dig host%d.corp.test through the DoT forwarder: %q", i, out)
		}
	}
	if q, c := good.Queries.Load(), good.Conns.Load(); q != 5 || c != 1 {
		t.Errorf("the DoT target answered %d queries over %d connections, want 5 over 1 (reused)", q, c)
	}

	for _, r := range refused {
		out := digFull(t, n, "host."+r.zone, "A")
		if !strings.Contains(out, "status: SERVFAIL") || !strings.Contains(out, "EDE: 23 (Network Error)") {
			t.Errorf("%s: want SERVFAIL with EDE 23, got:\n%s", r.zone, out)
		}
		if q := r.up.Queries.Load(); q != 0 {
			t.Errorf("%s: the target that failed authentication got %d queries", r.zone, q)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, r := range refused {
		for !strings.Contains(n.logText(), r.up.Addr.String()) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if log := n.logText(); !strings.Contains(log, "tls "+r.up.Addr.String()+" (dns.corp.test): TLS authentication of the server failed") {
			t.Errorf("%s: no error log line naming the target %s:\n%s", r.zone, r.up.Addr.String(), log)
		}
	}
	if v := n.metric(`coredns_recursor_upstream_queries_total{proto="tcp-tls"}`); v < 5 {
		t.Errorf("upstream queries counted over tcp-tls: %v, want at least 5", v)
	}
}
