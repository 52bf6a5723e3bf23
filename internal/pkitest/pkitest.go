// Package pkitest makes the certificate authorities and server
// certificates tests need for DNS over TLS and HTTPS: a CA, certificates it
// signs for chosen names and validity, as PEM and as tls.Certificate; and a
// DNS-over-TLS server presenting one (ServeDOT). Tests only: every key is
// generated on the spot and never leaves the test.
package pkitest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// CA is a certificate authority of a test.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	PEM  []byte // the CA certificate
}

// NewCA returns a CA named cn, valid from an hour ago for a day.
func NewCA(t testing.TB, cn string) *CA {
	t.Helper()
	return NewCAValid(t, cn, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
}

// NewCAValid returns a CA named cn valid from notBefore to notAfter.
func NewCAValid(t testing.TB, cn string, notBefore, notAfter time.Time) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: notBefore, NotAfter: notAfter,
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{Cert: cert, Key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// Pool is a pool holding the CA only.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// Leaf is a server certificate and its key.
type Leaf struct {
	CertPEM, KeyPEM []byte
	TLS             tls.Certificate
}

// Issue signs a server certificate for names (DNS names, or IP literals)
// valid from notBefore to notAfter.
func (ca *CA) Issue(t testing.TB, serial int64, notBefore, notAfter time.Time, names ...string) Leaf {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), NotBefore: notBefore, NotAfter: notAfter,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	if len(names) > 0 {
		tmpl.Subject = pkix.Name{CommonName: names[0]}
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	l := Leaf{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}),
	}
	if l.TLS, err = tls.X509KeyPair(l.CertPEM, l.KeyPEM); err != nil {
		t.Fatal(err)
	}
	return l
}

// IssueNow is Issue valid from an hour ago for a day.
func (ca *CA) IssueNow(t testing.TB, serial int64, names ...string) Leaf {
	t.Helper()
	return ca.Issue(t, serial, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour), names...)
}

// DOTServer is a DNS-over-TLS server of a test (RFC 7858: miekg/dns, Net
// "tcp-tls") on a loopback address; it counts the TLS connections it
// accepted and the queries it answered.
type DOTServer struct {
	Addr           netip.AddrPort
	Conns, Queries atomic.Int64
}

// ServeDOT starts a DOTServer on ip (port chosen by the kernel) with cert,
// answering every A question with the address answer, as a recursive
// server would (RA); it stops when the test ends. It closes a connection
// after 128 queries (miekg/dns's default).
func ServeDOT(t testing.TB, ip string, cert tls.Certificate, answer string) *DOTServer {
	t.Helper()
	return ServeDOTClosingAfter(t, ip, cert, answer, 0)
}

// ServeDOTClosingAfter is ServeDOT closing every connection after
// maxQueries queries (0: miekg/dns's default, 128), queries pipelined
// behind them unanswered: servers close connections when they like
// (RFC 7766 6.2.3).
func ServeDOTClosingAfter(t testing.TB, ip string, cert tls.Certificate, answer string, maxQueries int) *DOTServer {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	s := &DOTServer{Addr: netip.MustParseAddrPort(ln.Addr().String())}
	tl := tls.NewListener(countingListener{ln, &s.Conns}, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	srv := &dns.Server{Listener: tl, Net: "tcp-tls", MaxTCPQueries: maxQueries, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		s.Queries.Add(1)
		m := new(dns.Msg)
		m.SetReply(q)
		m.RecursionAvailable = true
		if len(q.Question) == 1 && q.Question[0].Qtype == dns.TypeA {
			if rr, err := dns.NewRR(q.Question[0].Name + " 60 IN A " + answer); err == nil {
				m.Answer = []dns.RR{rr}
			}
		}
		_ = w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("DoT server did not start")
	}
	t.Cleanup(func() { _ = srv.Shutdown() })
	return s
}

// countingListener counts accepted connections.
type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}
