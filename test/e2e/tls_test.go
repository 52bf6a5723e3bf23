package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitops-dns/resolverd/internal/pkitest"
	"github.com/miekg/dns"
)

// issue writes a certificate of ca for dns.test (and 127.0.0.1) valid
// from notBefore to notAfter, and its key, to certFile and keyFile.
func issue(t *testing.T, ca *pkitest.CA, serial int64, notBefore, notAfter time.Time, certFile, keyFile string) {
	t.Helper()
	l := ca.Issue(t, serial, notBefore, notAfter, "dns.test", "127.0.0.1")
	// Key first, then the certificate: a reader between the two writes sees
	// a mismatched pair and must refuse it, not serve half a renewal.
	write(t, keyFile, l.KeyPEM)
	write(t, certFile, l.CertPEM)
}

func write(t *testing.T, name string, data []byte) {
	t.Helper()
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, name); err != nil {
		t.Fatal(err)
	}
}

// tlsNode starts a node whose one server block listens for plain DNS, DNS
// over TLS and DNS over HTTPS, with the certificate files given.
func tlsNode(t *testing.T, certFile, keyFile string) (n *node, dot, doh string) {
	t.Helper()
	repo := newConfigRepo(t, baseFiles())
	head, _ := repo.repo.Head()
	n = &node{t: t, bindAddr: "127.0.0.1", port: freePort(t), metrics: freePort(t), read: freePort(t), state: t.TempDir()}
	dotPort, dohPort := freePort(t), freePort(t)
	n.corefile = filepath.Join(t.TempDir(), "Corefile")
	conf := fmt.Sprintf(`.:%d tls://.:%d https://.:%d {
    bind 127.0.0.1
    tls %s %s
    gitops {
        repo    %s
        ref     refs/heads/main
        cluster dev
        node    local
        poll    200ms
        state   %s
    }
    fastpath
    fallback
    authority
    recursor
    prometheus 127.0.0.1:%d
    ready 127.0.0.1:%d
    errors
}
`, n.port, dotPort, dohPort, certFile, keyFile, repo.dir, n.state, n.metrics, n.read)
	if err := os.WriteFile(n.corefile, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	n.start()
	n.waitServed(head.Hash().String(), 30*time.Second)
	return n, fmt.Sprintf("127.0.0.1:%d", dotPort), fmt.Sprintf("127.0.0.1:%d", dohPort)
}

// kdig runs Knot's kdig over TLS (RFC 7858) verifying the server as
// dns.test with caFile; it returns +short output and whether kdig succeeded.
func kdig(t *testing.T, addr, caFile string, args ...string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath("kdig"); err != nil {
		t.Skip("kdig not installed (Debian: knot-dnsutils); .ci/run installs it")
	}
	host, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	all := append([]string{"@" + host, "-p", port, "+tls", "+tls-ca=" + caFile, "+tls-hostname=dns.test", "+time=3", "+retry=0"}, args...)
	out, err := exec.CommandContext(ctx, "kdig", all...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// doh asks with curl over DNS over HTTPS (RFC 8484 GET, base64url of the
// wire query) and returns the unpacked answer.
func doh(t *testing.T, addr, caFile, name string) (*dns.Msg, error) {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed")
	}
	q := new(dns.Msg)
	q.SetQuestion(name, dns.TypeA)
	q.Id = 0 // RFC 8484 section 4.1: 0 for cache friendliness
	wire, err := q.Pack()
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	url := fmt.Sprintf("https://dns.test:%s/dns-query?dns=%s", port, base64.RawURLEncoding.EncodeToString(wire))
	out, err := exec.CommandContext(ctx, "curl", "-sS", "--fail", "--max-time", "5", "--cacert", caFile,
		"--resolve", "dns.test:"+port+":127.0.0.1", "-H", "accept: application/dns-message", url).Output()
	if err != nil {
		return nil, fmt.Errorf("curl: %w", err)
	}
	m := new(dns.Msg)
	if err := m.Unpack(out); err != nil {
		return nil, fmt.Errorf("DoH response: %w", err)
	}
	return m, nil
}

// servedSerial is the serial of the certificate the DoT listener presents.
func servedSerial(addr string, pool *x509.CertPool) (int64, error) {
	d := &net.Dialer{Timeout: 3 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{ServerName: "dns.test", RootCAs: pool})
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64(), nil
}

// DNS over TLS and over HTTPS from real clients (kdig, curl) through the
// same chain as plain DNS (internal zones, recursion ACL, response policy
// path); the certificate is reloaded when its files change; an expired or
// unreadable certificate is refused with an error naming the file while
// plain DNS keeps answering.
func TestEncryptedTransports(t *testing.T) {
	dir := t.TempDir()
	ca := pkitest.NewCA(t, "resolverd test CA")
	caFile, certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	write(t, caFile, ca.PEM)
	issue(t, ca, 10, time.Now().Add(-time.Hour), time.Now().Add(12*time.Hour), certFile, keyFile)
	pool := ca.Pool()

	n, dot, dohAddr := tlsNode(t, certFile, keyFile)
	if out, err := kdig(t, dot, caFile, "+short", "www.corp.internal", "A"); err != nil || out != "198.18.5.80" {
		t.Fatalf("kdig +tls www.corp.internal: %v\n%s", err, out)
	}
	m, err := doh(t, dohAddr, caFile, "www.corp.internal.")
	if err != nil || len(aRecords(m)) != 1 || aRecords(m)[0] != "198.18.5.80" || !m.Authoritative {
		t.Fatalf("DoH www.corp.internal: %v %v", m, err)
	}
	// The chain is the same: a name nobody serves gets the recursor's
	// answer (its root is a loopback address where nothing listens).
	if out, err := kdig(t, dot, caFile, "+short", "CH", "TXT", "version.config."); err != nil || !strings.Contains(out, n.servedRevision()) {
		t.Fatalf("kdig +tls version.config.: %v\n%s", err, out)
	}
	if v := n.metric(`coredns_dns_requests_total{family="1",proto="tcp",server="tls://`); v < 2 {
		t.Errorf("DoT requests counted by the prometheus plugin: %v, want at least 2", v)
	}

	// Renewal: new files are served within a second or so, no restart.
	issue(t, ca, 11, time.Now().Add(-time.Hour), time.Now().Add(12*time.Hour), certFile, keyFile)
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, err := servedSerial(dot, pool)
		if err == nil && s == 11 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("renewed certificate not served after 10s: serial %d, %v", s, err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Expired: refused, the log names the file; plain DNS answers.
	issue(t, ca, 12, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour), certFile, keyFile)
	deadline = time.Now().Add(10 * time.Second)
	for {
		_, err := servedSerial(dot, pool)
		if err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("an expired certificate is still served")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if out, err := kdig(t, dot, caFile, "+short", "www.corp.internal", "A"); err == nil && out == "198.18.5.80" {
		t.Errorf("kdig +tls answered with an expired certificate: %s", out)
	}
	if _, err := doh(t, dohAddr, caFile, "www.corp.internal."); err == nil {
		t.Error("DoH answered with an expired certificate")
	}
	if r, err := n.query("udp", "www.corp.internal.", dns.TypeA, dns.ClassINET); err != nil || len(aRecords(r)) != 1 {
		t.Errorf("plain DNS while the certificate is expired: %v %v", r, err)
	}
	if log := n.logText(); !strings.Contains(log, "certificate "+certFile+" expired") {
		t.Errorf("the log does not name the expired certificate file:\n%s", log)
	}
}

// A node whose certificate file is missing at start serves plain DNS and
// says which file is missing.
func TestMissingCertificateKeepsPlainDNS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "missing.pem"), filepath.Join(dir, "key.pem")
	n, dot, _ := tlsNode(t, certFile, keyFile)
	if r, err := n.query("udp", "www.corp.internal.", dns.TypeA, dns.ClassINET); err != nil || len(aRecords(r)) != 1 {
		t.Fatalf("plain DNS: %v %v", r, err)
	}
	if _, err := servedSerial(dot, x509.NewCertPool()); err == nil {
		t.Error("a TLS handshake succeeded without a certificate")
	}
	if log := n.logText(); !strings.Contains(log, "cannot read "+certFile) {
		t.Errorf("the log does not name the missing file:\n%s", log)
	}
}

// TestEncryptedAddressWithoutTLSRefused: a tls:// or https:// address in a
// block without the tls directive would serve DNS in clear text (CoreDNS
// wraps the listener only when TLS is configured); resolverd refuses to
// start, non-zero, naming the Corefile line of the address.
func TestEncryptedAddressWithoutTLSRefused(t *testing.T) {
	repo := newConfigRepo(t, baseFiles())
	for _, scheme := range []string{"tls", "https"} {
		t.Run(scheme, func(t *testing.T) {
			plain, enc := freePort(t), freePort(t)
			corefile := filepath.Join(t.TempDir(), "Corefile")
			conf := fmt.Sprintf(`# DNS and DNS over %[1]s, the certificate forgotten
.:%[2]d %[1]s://.:%[3]d {
    bind 127.0.0.1
    gitops {
        repo    %[4]s
        cluster dev
        node    local
        state   %[5]s
    }
    recursor
}
`, scheme, plain, enc, repo.dir, t.TempDir())
			if err := os.WriteFile(corefile, []byte(conf), 0o644); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, resolverdBin, "-conf", corefile).CombinedOutput()
			var exit *exec.ExitError
			if ctx.Err() != nil || !errors.As(err, &exit) || exit.ExitCode() == 0 {
				t.Fatalf("resolverd started with %s:// and no tls directive (err %v):\n%s", scheme, err, out)
			}
			want := fmt.Sprintf("%s:2: server block .:%d %s://.:%d has no tls directive", corefile, plain, scheme, enc)
			if !strings.Contains(string(out), want) {
				t.Fatalf("the error does not say %q:\n%s", want, out)
			}
		})
	}
}
