package cluster

import (
	"net/netip"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/gitops-dns/resolverd/cluster/model"
	"github.com/gitops-dns/resolverd/internal/pkitest"
	"github.com/gitops-dns/resolverd/zones"
)

func TestParseForwardTarget(t *testing.T) {
	for _, tc := range []struct {
		in, ap, name, err string
	}{
		{in: "198.18.9.1", ap: "198.18.9.1:53"},
		{in: "tls://198.18.9.1@dns.corp.example", ap: "198.18.9.1:853", name: "dns.corp.example"},
		{in: "tls://198.18.9.1:8853@DNS.Corp.Example.", ap: "198.18.9.1:8853", name: "dns.corp.example"},
		{in: "tls://2001:db8::1@dns.corp.example", ap: "[2001:db8::1]:853", name: "dns.corp.example"},
		{in: "tls://[2001:db8::1]:5353@dns.corp.example", ap: "[2001:db8::1]:5353", name: "dns.corp.example"},
		{in: "tls://198.18.9.1", err: "names the server's certificate name after @"},
		{in: "tls://198.18.9.1@", err: "no certificate name"},
		{in: "tls://198.18.9.1@198.18.9.1", err: "is an address"},
		{in: "tls://198.18.9.1@-dns.example", err: "not a host name"},
		{in: "tls://198.18.9.1@*.example", err: "not a host name"},
		{in: "tls://dns.example@198.18.9.1", err: "want an IP literal"},
		{in: "tls://198.18.9.1:0@dns.example", err: "port 0"},
		{in: "https://198.18.9.1", err: "the only scheme is tls://"},
	} {
		ap, name, err := parseForwardTarget(tc.in)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want %q", tc.in, err, tc.err)
			}
		case err != nil:
			t.Errorf("%s: %v", tc.in, err)
		case ap.String() != tc.ap || name != tc.name:
			t.Errorf("%s: %s @ %q, want %s @ %q", tc.in, ap, name, tc.ap, tc.name)
		}
	}
}

// TestCAFileExpiry: a CA that expires within 30 days is a warning (commit
// its renewal); one that has expired is an error.
func TestCAFileExpiry(t *testing.T) {
	at := time.Now()
	defer func(f func() time.Time) { now = f }(now)
	now = func() time.Time { return at }
	soon := pkitest.NewCAValid(t, "Soon CA", at.Add(-time.Hour), at.Add(10*24*time.Hour))
	gone := pkitest.NewCAValid(t, "Gone CA", at.Add(-48*time.Hour), at.Add(-time.Hour))
	future := pkitest.NewCAValid(t, "Future CA", at.Add(time.Hour), at.Add(48*time.Hour))
	for _, tc := range []struct {
		name string
		pem  []byte
		want string
		sev  zones.Severity
	}{
		{"expiring", soon.PEM, `certificate "CN=Soon CA" expires on`, zones.SeverityWarning},
		{"expired", gone.PEM, `certificate "CN=Gone CA" expired on`, zones.SeverityError},
		{"not yet valid", future.PEM, `certificate "CN=Future CA" is not valid before`, zones.SeverityError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &loader{fsys: fstest.MapFS{"ca.pem": {Data: tc.pem}}, dir: "dns"}
			ca := l.readCAFile("ca.pem")
			if len(l.findings) != 1 || !strings.Contains(l.findings[0].Msg, tc.want) || l.findings[0].Severity != tc.sev ||
				l.findings[0].Pos != (zones.Position{File: "dns/ca.pem", Line: 1, Col: 1}) {
				t.Fatalf("findings %v, want one %s %q at dns/ca.pem:1:1", l.findings, tc.sev, tc.want)
			}
			if usable := tc.sev == zones.SeverityWarning; usable != (len(ca.certs) == 1) {
				t.Errorf("%d certificates kept", len(ca.certs))
			}
		})
	}
}

// TestForwardDiffShowsTLS: dnsctl diff shows a target moved to TLS and a
// CA file changed in place (the digest), not only file names.
func TestForwardDiffShowsTLS(t *testing.T) {
	rule := func(to string, digest string) model.ForwardRule {
		ap, name, err := parseForwardTarget(to)
		if err != nil {
			t.Fatal(err)
		}
		r := model.ForwardRule{Zone: "ad.corp.example.", To: []netip.AddrPort{ap}}
		if name != "" {
			r.TLSName = []string{name}
			r.TLSCA = &model.CAFile{File: "certs/ca.pem", SHA256: digest}
		}
		return r
	}
	plain := forwardText(ptr(rule("198.18.9.1", "")))
	tlsA := forwardText(ptr(rule("tls://198.18.9.1@dns.corp.example", "aaaaaaaaaaaaaaaa")))
	tlsB := forwardText(ptr(rule("tls://198.18.9.1@dns.corp.example", "bbbbbbbbbbbbbbbb")))
	if plain != "198.18.9.1:53" || tlsA != "tls://198.18.9.1:853@dns.corp.example (tls_ca certs/ca.pem sha256:aaaaaaaaaaaa)" || tlsA == tlsB {
		t.Errorf("texts %q %q %q", plain, tlsA, tlsB)
	}
}

func ptr[T any](v T) *T { return &v }

func FuzzForwardTarget(f *testing.F) {
	for _, s := range []string{"198.18.9.1", "tls://198.18.9.1@dns.corp.example", "tls://[2001:db8::1]:853@a.b", "tls://@", "tls://1.2.3.4@@x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ap, name, err := parseForwardTarget(s)
		if err != nil {
			return
		}
		if !ap.IsValid() || ap.Port() == 0 || strings.HasPrefix(s, "tls://") != (name != "") {
			t.Fatalf("%q accepted as %s @ %q", s, ap, name)
		}
		if name != "" && (strings.ContainsAny(name, "@:/ ") || strings.HasSuffix(name, ".")) {
			t.Fatalf("%q: name %q", s, name)
		}
	})
}

func FuzzCAFile(f *testing.F) {
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Add([]byte("junk\n-----BEGIN CERT"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l := &loader{fsys: fstest.MapFS{"ca.pem": {Data: data}}, dir: "dns"}
		ca := l.readCAFile("ca.pem")
		if (ca.err == "") != (len(ca.certs) > 0) {
			t.Fatalf("err %q with %d certificates", ca.err, len(ca.certs))
		}
		checkFindings(t, "dns/ca.pem", l.findings)
	})
}
