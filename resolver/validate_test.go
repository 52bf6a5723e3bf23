package resolver

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/internal/dnssectest"
	"github.com/gitops-dns/resolverd/internal/fakeclock"
	"github.com/gitops-dns/resolverd/resolver/dnssec"
)

// validatingResolver resolves from the signed internet with its root's
// trust anchor.
func validatingResolver(t testing.TB, in *dnssectest.Internet) *Resolver {
	t.Helper()
	anchors, err := dnssec.NewAnchors(mustRRs(t, ".", in.TrustAnchor))
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(Config{RootHints: mustRRs(t, ".", in.RootHints), Port: uint16(in.Port), QueryLocalhost: true,
		DisableIPv6: true, HealthInterval: -1, DNSSEC: &dnssec.Config{Anchors: anchors}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

func hasType(rrs []dns.RR, t uint16) bool {
	for _, rr := range rrs {
		if rr.Header().Rrtype == t {
			return true
		}
	}
	return false
}

// TestValidationSignedInternet resolves every question of the signed
// internet with validation on, twice (the second from the cache): secure
// answers carry AD and their RRSIGs, insecure ones neither, bogus ones are
// SERVFAIL with the EDE of why, and with CD the data without AD.
func TestValidationSignedInternet(t *testing.T) {
	if !dnssectest.Available() {
		t.Skip("bind9-utils or NSD not installed")
	}
	if testing.Short() {
		t.Skip("-short")
	}
	in := dnssectest.Start(t)
	r := validatingResolver(t, in)
	for _, tc := range dnssectest.Expectations {
		t.Run(tc.Name+"/"+dns.TypeToString[tc.Type], func(t *testing.T) {
			q := dns.Question{Name: tc.Name, Qtype: tc.Type, Qclass: dns.ClassINET}
			for _, from := range []string{"network", "cache"} {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				m, err := r.Resolve(ctx, q)
				cancel()
				switch tc.Status {
				case "secure":
					if m.Rcode == dns.RcodeServerFailure || !m.AuthenticatedData {
						t.Fatalf("%s: rcode %s ad=%v err=%v, want secure", from, dns.RcodeToString[m.Rcode], m.AuthenticatedData, err)
					}
					if !hasType(m.Answer, dns.TypeRRSIG) && !hasType(m.Ns, dns.TypeRRSIG) {
						t.Errorf("%s: no RRSIG in the reply:\n%v", from, m)
					}
				case "insecure":
					if m.Rcode == dns.RcodeServerFailure || m.AuthenticatedData {
						t.Fatalf("%s: rcode %s ad=%v err=%v, want insecure", from, dns.RcodeToString[m.Rcode], m.AuthenticatedData, err)
					}
				case "bogus":
					var ve *ValidationError
					code, _ := ExtendedError(err)
					if m.Rcode != dns.RcodeServerFailure || !errors.As(err, &ve) || (tc.EDE != 0 && code != tc.EDE) {
						t.Fatalf("%s: rcode %s err=%v (EDE %d), want SERVFAIL with EDE %d", from, dns.RcodeToString[m.Rcode], err, code, tc.EDE)
					}
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					m, err = r.ResolveCD(ctx, q, true)
					cancel()
					if m.Rcode == dns.RcodeServerFailure || m.AuthenticatedData {
						t.Fatalf("%s, CD: rcode %s ad=%v err=%v, want the data without AD", from, dns.RcodeToString[m.Rcode], m.AuthenticatedData, err)
					}
				}
			}
		})
	}
}

// TestValidationCaching: bogus data is cached for the bogus TTL (60 s)
// and then asked again; a secure answer from the cache keeps AD.
func TestValidationCaching(t *testing.T) {
	if !dnssectest.Available() {
		t.Skip("bind9-utils or NSD not installed")
	}
	if testing.Short() {
		t.Skip("-short")
	}
	in := dnssectest.Start(t)
	anchors, err := dnssec.NewAnchors(mustRRs(t, ".", in.TrustAnchor))
	if err != nil {
		t.Fatal(err)
	}
	clock := fakeclock.New(time.Now())
	counts := &Counters{}
	r, err := New(Config{RootHints: mustRRs(t, ".", in.RootHints), Port: uint16(in.Port), QueryLocalhost: true, DisableIPv6: true,
		HealthInterval: -1, Clock: clock, Metrics: counts, DNSSEC: &dnssec.Config{Anchors: anchors}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ask := func(name string) (*dns.Msg, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return r.Resolve(ctx, dns.Question{Name: name, Qtype: dns.TypeA, Qclass: dns.ClassINET})
	}
	bogusName := "www." + dnssectest.Tampered
	if m, err := ask(bogusName); m.Rcode != dns.RcodeServerFailure || err == nil {
		t.Fatalf("first: %v %v", m, err)
	}
	sent := counts.Upstream.Load()
	clock.Advance(59 * time.Second)
	if m, _ := ask(bogusName); m.Rcode != dns.RcodeServerFailure || counts.Upstream.Load() != sent {
		t.Fatalf("within the bogus TTL: rcode %s, %d new upstream queries; want SERVFAIL from the cache", dns.RcodeToString[m.Rcode], counts.Upstream.Load()-sent)
	}
	clock.Advance(2 * time.Second)
	if m, _ := ask(bogusName); m.Rcode != dns.RcodeServerFailure || counts.Upstream.Load() == sent {
		t.Fatalf("after the bogus TTL: rcode %s, no new upstream query; want it asked again", dns.RcodeToString[m.Rcode])
	}
	good := "www." + dnssectest.Secure
	if m, _ := ask(good); !m.AuthenticatedData {
		t.Fatalf("secure: %v", m)
	}
	sent = counts.Upstream.Load()
	if m, _ := ask(good); !m.AuthenticatedData || counts.Upstream.Load() != sent {
		t.Fatalf("secure from the cache: ad=%v, %d upstream queries", m.AuthenticatedData, counts.Upstream.Load()-sent)
	}
}

// TestStaleNeverSecure: expired data served stale (RFC 8767) never has
// AD, and expired bogus data is never served at all.
func TestStaleNeverSecure(t *testing.T) {
	clock := fakeclock.New(time.Now())
	r, err := New(Config{RootHints: mustRRs(t, ".", ". NS a.root.test.\na.root.test. A 127.0.0.1"), Transport: newFakeNet(), HealthInterval: -1,
		Clock: clock, QueryLocalhost: true, DNSSEC: &dnssec.Config{}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	now := clock.Now()
	for name, st := range map[string]dnssec.Status{"secure.example.": dnssec.Secure, "bogus.example.": dnssec.Bogus} {
		a := mustRRs(t, ".", name+" 60 A 192.0.2.1")
		r.c.rr.Add(typeKey(name, dns.TypeA), &entry{rrs: a, expires: now.Add(-time.Second), sec: security{checked: true, status: st}})
		// A failure remembered (RFC 9520) sends Resolve to the stale data.
		r.c.fail.Add(typeKey(name, dns.TypeA), failure{count: 1, until: now.Add(time.Minute)})
	}
	m, _ := r.Resolve(context.Background(), dns.Question{Name: "secure.example.", Qtype: dns.TypeA, Qclass: dns.ClassINET})
	if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 || m.AuthenticatedData {
		t.Errorf("stale secure data: rcode %s, %d records, ad=%v; want the stale answer without AD", dns.RcodeToString[m.Rcode], len(m.Answer), m.AuthenticatedData)
	}
	m, _ = r.Resolve(context.Background(), dns.Question{Name: "bogus.example.", Qtype: dns.TypeA, Qclass: dns.ClassINET})
	if m.Rcode != dns.RcodeServerFailure {
		t.Errorf("stale bogus data: rcode %s, want SERVFAIL", dns.RcodeToString[m.Rcode])
	}
}

// TestAggressiveNSEC: after a validated NXDOMAIN, a name in the same NSEC
// gap is denied without a query (RFC 8198), securely.
func TestAggressiveNSEC(t *testing.T) {
	if !dnssectest.Available() {
		t.Skip("bind9-utils or NSD not installed")
	}
	if testing.Short() {
		t.Skip("-short")
	}
	in := dnssectest.Start(t)
	anchors, err := dnssec.NewAnchors(mustRRs(t, ".", in.TrustAnchor))
	if err != nil {
		t.Fatal(err)
	}
	counts := &Counters{}
	r, err := New(Config{RootHints: mustRRs(t, ".", in.RootHints), Port: uint16(in.Port), QueryLocalhost: true, DisableIPv6: true,
		HealthInterval: -1, Metrics: counts, DNSSEC: &dnssec.Config{Anchors: anchors}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ask := func(name string) *dns.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		m, _ := r.Resolve(ctx, dns.Question{Name: name, Qtype: dns.TypeA, Qclass: dns.ClassINET})
		return m
	}
	// secure.example.'s names sort apex, *.wild, a.b, alias, ns, txt, www:
	// "nope" and "nope2" share the gap between ns and txt.
	if m := ask("nope." + dnssectest.Secure); m.Rcode != dns.RcodeNameError || !m.AuthenticatedData {
		t.Fatalf("nope: %v", m)
	}
	sent := counts.Upstream.Load()
	m := ask("nope2." + dnssectest.Secure)
	if m.Rcode != dns.RcodeNameError || !m.AuthenticatedData || !hasType(m.Ns, dns.TypeNSEC) {
		t.Fatalf("nope2: %v", m)
	}
	if n := counts.Upstream.Load() - sent; n != 0 {
		t.Errorf("nope2 cost %d upstream queries; the cached NSEC proves it", n)
	}
}

// BenchmarkColdResolveSigned is BenchmarkColdResolve against the signed
// internet: each iteration resolves a new name under the wildcard *.wild of
// a zone (one upstream query: a wildcard answer with its NSEC or NSEC3
// proof, the chain cached), with validation off and on, side by side in
// one run. The zones: secure.example. (ECDSA P-256, NSEC) and
// nsec3p256.example. (ECDSA P-256, NSEC3 without salt or extra iterations:
// bench's W3 shape). cpu-µs/op is the process's CPU per resolution (NSD's
// is not counted).
func BenchmarkColdResolveSigned(b *testing.B) {
	if !dnssectest.Available() {
		b.Skip("bind9-utils or NSD not installed")
	}
	in := dnssectest.Start(b)
	anchors, err := dnssec.NewAnchors(mustRRs(b, ".", in.TrustAnchor))
	if err != nil {
		b.Fatal(err)
	}
	for _, z := range []struct{ name, zone string }{{"nsec", dnssectest.Secure}, {"nsec3", dnssectest.NSEC3P256}} {
		for _, validate := range []bool{false, true} {
			b.Run(z.name+"/"+map[bool]string{false: "validation=off", true: "validation=on"}[validate], func(b *testing.B) {
				benchColdResolveSigned(b, in, anchors, z.zone, validate)
			})
		}
	}
}

func benchColdResolveSigned(b *testing.B, in *dnssectest.Internet, anchors *dnssec.Anchors, zone string, validate bool) {
	cfg := Config{RootHints: mustRRs(b, ".", in.RootHints), Port: uint16(in.Port), QueryLocalhost: true, DisableIPv6: true, HealthInterval: -1}
	if validate {
		cfg.DNSSEC = &dnssec.Config{Anchors: anchors}
	}
	r, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	q := func(name string) *dns.Msg {
		m, err := r.Resolve(ctx, dns.Question{Name: name, Qtype: dns.TypeA, Qclass: dns.ClassINET})
		if err != nil || len(m.Answer) == 0 || m.AuthenticatedData != validate {
			b.Fatalf("%s: %v %v", name, err, m)
		}
		return m
	}
	q("prime.wild." + zone) // delegations and keys cached
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime(b)
	for i := 0; i < b.N; i++ {
		q(fmt.Sprintf("n%d.wild.%s", i, zone))
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/op")
}

// recordingTransport is NetTransport noting the types asked.
type recordingTransport struct {
	NetTransport
	mu    sync.Mutex
	asked map[uint16]int
}

func (t *recordingTransport) Exchange(ctx context.Context, network string, server netip.AddrPort, m *dns.Msg) (*dns.Msg, error) {
	t.mu.Lock()
	t.asked[m.Question[0].Qtype]++
	t.mu.Unlock()
	return t.NetTransport.Exchange(ctx, network, server, m)
}

// TestReferralDS: the DS records (and the NSEC denying them) that signed
// parents put in referrals spare the chain its DS questions.
func TestReferralDS(t *testing.T) {
	if !dnssectest.Available() {
		t.Skip("bind9-utils or NSD not installed")
	}
	if testing.Short() {
		t.Skip("-short")
	}
	in := dnssectest.Start(t)
	anchors, err := dnssec.NewAnchors(mustRRs(t, ".", in.TrustAnchor))
	if err != nil {
		t.Fatal(err)
	}
	tr := &recordingTransport{asked: map[uint16]int{}}
	r, err := New(Config{RootHints: mustRRs(t, ".", in.RootHints), Port: uint16(in.Port), QueryLocalhost: true, DisableIPv6: true,
		HealthInterval: -1, Transport: tr, DNSSEC: &dnssec.Config{Anchors: anchors}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, name := range []string{"www." + dnssectest.Secure, "www." + dnssectest.Insecure} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		m, err := r.Resolve(ctx, dns.Question{Name: name, Qtype: dns.TypeA, Qclass: dns.ClassINET})
		cancel()
		if err != nil || m.Rcode != dns.RcodeSuccess {
			t.Fatalf("%s: %v %v", name, err, m)
		}
	}
	if n := tr.asked[dns.TypeDS]; n != 0 {
		t.Errorf("%d DS questions sent; the referrals held the DS sets and their denials", n)
	}
}
