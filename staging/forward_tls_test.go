package staging

import (
	"context"
	"crypto/x509"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gitops-dns/resolverd/cluster/model"
	"github.com/gitops-dns/resolverd/internal/pkitest"
)

// TestVerifyForwardOverTLS: dnsctl verify asks a tls:// forward target
// over TLS with the rule's CA and name, as the nodes do: a target whose
// certificate the nodes would refuse fails the check.
func TestVerifyForwardOverTLS(t *testing.T) {
	ca := pkitest.NewCA(t, "Corp DNS CA")
	other := pkitest.NewCA(t, "Someone else's CA")
	for _, tc := range []struct {
		name string
		leaf pkitest.Leaf
		pass bool
	}{
		{"authenticated", ca.IssueNow(t, 2, "dns.corp.test"), true},
		{"another name", ca.IssueNow(t, 3, "dns.other.test"), false},
		{"another CA", other.IssueNow(t, 4, "dns.corp.test"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := pkitest.ServeDOT(t, "127.0.0.1", tc.leaf.TLS, "198.18.7.7")
			r := model.ForwardRule{Zone: "corp.test.", To: []netip.AddrPort{srv.Addr}, TLSName: []string{"dns.corp.test"},
				TLSCA: &model.CAFile{File: "certs/ca.pem", Certs: []*x509.Certificate{ca.Cert}}}
			v := &verifier{opt: Options{Timeout: 2 * time.Second}}
			ch := v.forward(context.Background(), r, 0)
			if (ch.Status == StatusPass) != tc.pass {
				t.Fatalf("check %+v, want pass=%v", ch, tc.pass)
			}
			if !strings.HasPrefix(ch.Subject, "corp.test. -> tls://"+srv.Addr.String()+"@dns.corp.test") {
				t.Errorf("subject %q does not name the target as written", ch.Subject)
			}
			if got := srv.Queries.Load(); (got > 0) != tc.pass {
				t.Errorf("the target got %d queries", got)
			}
		})
	}
}
