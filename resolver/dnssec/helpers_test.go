package dnssec

import (
	"context"
	"crypto"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// testNow is the instant the tests' signatures are valid around.
var testNow = time.Date(2026, 12, 7, 4, 0, 0, 0, time.UTC)

func rr(t testing.TB, s string) dns.RR {
	t.Helper()
	r, err := dns.NewRR(s)
	if err != nil {
		t.Fatalf("NewRR(%q): %v", s, err)
	}
	return r
}

func rrs(t testing.TB, ss ...string) []dns.RR {
	var out []dns.RR
	for _, s := range ss {
		out = append(out, rr(t, s))
	}
	return out
}

// signedZone is a zone with a KSK and a ZSK generated in Go.
type signedZone struct {
	name              string
	ksk, zsk          *dns.DNSKEY
	kskPriv, zskPriv  crypto.Signer
	inception, expiry time.Time
}

var keyBits = map[uint8]int{
	dns.RSASHA1: 1024, dns.RSASHA1NSEC3SHA1: 1024, dns.RSASHA256: 1024, dns.RSASHA512: 1024,
	dns.ECDSAP256SHA256: 256, dns.ECDSAP384SHA384: 384, dns.ED25519: 256,
}

func genKey(t testing.TB, zone string, alg uint8, flags uint16) (*dns.DNSKEY, crypto.Signer) {
	t.Helper()
	k := &dns.DNSKEY{Hdr: dns.RR_Header{Name: zone, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 3600},
		Flags: flags, Protocol: 3, Algorithm: alg}
	priv, err := k.Generate(keyBits[alg])
	if err != nil {
		t.Fatalf("generate %s key for %s: %v", dns.AlgorithmToString[alg], zone, err)
	}
	return k, priv.(crypto.Signer)
}

// keyCache shares generated keys between tests: RSA generation is slow.
var keyCache sync.Map

func newZone(t testing.TB, name string, alg uint8) *signedZone {
	t.Helper()
	if z, ok := keyCache.Load(fmt.Sprintf("%s/%d", name, alg)); ok {
		c := *z.(*signedZone)
		return &c
	}
	z := &signedZone{name: name, inception: testNow.Add(-time.Hour), expiry: testNow.Add(24 * time.Hour)}
	z.ksk, z.kskPriv = genKey(t, name, alg, 257)
	z.zsk, z.zskPriv = genKey(t, name, alg, 256)
	keyCache.Store(fmt.Sprintf("%s/%d", name, alg), z)
	c := *z
	return &c
}

func (z *signedZone) sigWith(t testing.TB, k *dns.DNSKEY, priv crypto.Signer, set []dns.RR) *dns.RRSIG {
	t.Helper()
	sig := &dns.RRSIG{Hdr: dns.RR_Header{Ttl: set[0].Header().Ttl}, Algorithm: k.Algorithm, KeyTag: k.KeyTag(),
		SignerName: z.name, Inception: uint32(z.inception.Unix()), Expiration: uint32(z.expiry.Unix())}
	if err := sig.Sign(priv, set); err != nil {
		t.Fatalf("sign %s: %v", set[0].Header().Name, err)
	}
	return sig
}

// sign returns set followed by its RRSIG by the ZSK.
func (z *signedZone) sign(t testing.TB, set ...dns.RR) []dns.RR {
	t.Helper()
	return append(append([]dns.RR{}, set...), z.sigWith(t, z.zsk, z.zskPriv, set))
}

// keys is the DNSKEY RRset signed by the KSK.
func (z *signedZone) keys(t testing.TB) []dns.RR {
	set := []dns.RR{z.ksk, z.zsk}
	return append(set, z.sigWith(t, z.ksk, z.kskPriv, set))
}

func (z *signedZone) ds(digest uint8) *dns.DS {
	ds := z.ksk.ToDS(digest)
	ds.Hdr.Ttl = 3600
	return ds
}

// fakeNet answers the validator's DS and DNSKEY questions from a table:
// the test is about the validator's logic, not the network.
type fakeNet struct {
	mu      sync.Mutex
	replies map[string]fakeReply
	asked   map[string]int
}

type fakeReply struct {
	msg  *dns.Msg
	zone string
	err  error
}

func newFakeNet() *fakeNet { return &fakeNet{replies: map[string]fakeReply{}, asked: map[string]int{}} }

func fkey(name string, qtype uint16) string { return canonical(name) + "/" + dns.TypeToString[qtype] }

func (f *fakeNet) set(name string, qtype uint16, zone string, rcode int, answer, ns []dns.RR) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.Response, m.Rcode, m.Answer, m.Ns = true, rcode, answer, ns
	f.mu.Lock()
	f.replies[fkey(name, qtype)] = fakeReply{msg: m, zone: zone}
	f.mu.Unlock()
}

func (f *fakeNet) Fetch(_ context.Context, name string, qtype uint16) (*dns.Msg, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := fkey(name, qtype)
	f.asked[k]++
	r, ok := f.replies[k]
	if !ok {
		return nil, "", fmt.Errorf("fakeNet: no reply for %s", k)
	}
	return r.msg.Copy(), r.zone, r.err
}

func (f *fakeNet) count(name string, qtype uint16) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.asked[fkey(name, qtype)]
}

// nsecChain builds the NSEC chain of zone over names (owner -> types; the
// RRSIG and NSEC types are added), signed by z.
func (z *signedZone) nsecChain(t testing.TB, names map[string][]uint16) map[string][]dns.RR {
	t.Helper()
	var owners []string
	for n := range names {
		owners = append(owners, canonical(n))
	}
	sort.Slice(owners, func(i, j int) bool { return compareNames(owners[i], owners[j]) < 0 })
	out := map[string][]dns.RR{}
	for i, o := range owners {
		types := append(append([]uint16{}, names[o]...), dns.TypeRRSIG, dns.TypeNSEC)
		sort.Slice(types, func(i, j int) bool { return types[i] < types[j] })
		n := &dns.NSEC{Hdr: dns.RR_Header{Name: o, Rrtype: dns.TypeNSEC, Class: dns.ClassINET, Ttl: 300},
			NextDomain: owners[(i+1)%len(owners)], TypeBitMap: types}
		out[o] = z.sign(t, n)
	}
	return out
}

// nsec3Chain builds the NSEC3 chain of zone over names (owner -> types),
// signed by z; optOut sets the opt-out flag on every record.
func (z *signedZone) nsec3Chain(t testing.TB, names map[string][]uint16, iter uint16, salt string, optOut bool) map[string][]dns.RR {
	t.Helper()
	type entry struct {
		name, hash string
		types      []uint16
	}
	var es []entry
	for n, types := range names {
		es = append(es, entry{canonical(n), dns.HashName(canonical(n), dns.SHA1, iter, salt), types})
	}
	sort.Slice(es, func(i, j int) bool { return es[i].hash < es[j].hash })
	out := map[string][]dns.RR{}
	for i, e := range es {
		types := append([]uint16{}, e.types...)
		if len(types) > 0 {
			types = append(types, dns.TypeRRSIG)
		}
		sort.Slice(types, func(i, j int) bool { return types[i] < types[j] })
		var flags uint8
		if optOut {
			flags = 1
		}
		n := &dns.NSEC3{Hdr: dns.RR_Header{Name: strings.ToLower(e.hash) + "." + z.name, Rrtype: dns.TypeNSEC3, Class: dns.ClassINET, Ttl: 300},
			Hash: dns.SHA1, Flags: flags, Iterations: iter, SaltLength: uint8(len(salt) / 2), Salt: salt,
			HashLength: 20, NextDomain: es[(i+1)%len(es)].hash, TypeBitMap: types}
		out[e.name] = z.sign(t, n)
	}
	return out
}

// coverOf returns the chain record that covers (or matches) name's hash
// (NSEC3) or name (NSEC).
func coverOf(t testing.TB, chain map[string][]dns.RR, name string) []dns.RR {
	t.Helper()
	name = canonical(name)
	for _, set := range chain {
		switch n := set[0].(type) {
		case *dns.NSEC:
			if nsecCovers(n, name) || equalNames(n.Hdr.Name, name) {
				return set
			}
		case *dns.NSEC3:
			if n.Cover(name) || n.Match(name) {
				return set
			}
		}
	}
	t.Fatalf("no chain record covers %s", name)
	return nil
}

func concat(sets ...[]dns.RR) []dns.RR {
	var out []dns.RR
	for _, s := range sets {
		out = append(out, s...)
	}
	return out
}

// world is a signed tree: root -> example. (signed, NSEC) with
// unsigned.example. (no DS), n3.example. (signed, NSEC3 with opt-out) and
// the DS/DNSKEY replies the chain needs.
type world struct {
	net                   *fakeNet
	root, example, n3     *signedZone
	anchors               *Anchors
	exampleNSEC, n3NSEC3  map[string][]dns.RR
	n3OptOut              map[string][]dns.RR // an opt-out chain of n3.example.
	rootSOA, exSOA, n3SOA dns.RR
}

func soa(t testing.TB, zone string) dns.RR {
	return rr(t, zone+" 300 IN SOA ns."+strings.TrimPrefix(zone, ".")+" host."+strings.TrimPrefix(zone, ".")+" 1 3600 600 86400 300")
}

func newWorld(t testing.TB, alg uint8) *world {
	t.Helper()
	w := &world{net: newFakeNet()}
	w.root = newZone(t, ".", dns.ECDSAP256SHA256)
	w.example = newZone(t, "example.", alg)
	w.n3 = newZone(t, "n3.example.", dns.ECDSAP256SHA256)
	a, err := NewAnchors([]dns.RR{w.root.ds(dns.SHA256)})
	if err != nil {
		t.Fatal(err)
	}
	w.anchors = a
	w.rootSOA, w.exSOA, w.n3SOA = soa(t, "."), soa(t, "example."), soa(t, "n3.example.")

	w.net.set(".", dns.TypeDNSKEY, ".", dns.RcodeSuccess, w.root.keys(t), nil)
	w.net.set("example.", dns.TypeDS, ".", dns.RcodeSuccess, w.root.sign(t, w.example.ds(dns.SHA256)), nil)
	w.net.set("example.", dns.TypeDNSKEY, "example.", dns.RcodeSuccess, w.example.keys(t), nil)

	w.exampleNSEC = w.example.nsecChain(t, map[string][]uint16{
		"example.":              {dns.TypeSOA, dns.TypeNS, dns.TypeDNSKEY},
		"*.wild.example.":       {dns.TypeA},
		"www.example.":          {dns.TypeA},
		"a.b.example.":          {dns.TypeA}, // b.example. is an empty non-terminal
		"unsigned.example.":     {dns.TypeNS},
		"n3.example.":           {dns.TypeNS, dns.TypeDS},
		"alias.example.":        {dns.TypeCNAME},
		"nodelegation.example.": {dns.TypeTXT},
	})
	// unsigned.example.: a delegation without DS.
	w.net.set("unsigned.example.", dns.TypeDS, "example.", dns.RcodeSuccess, nil,
		concat(w.example.sign(t, w.exSOA), w.exampleNSEC["unsigned.example."]))
	// n3.example.: signed, NSEC3 (opt-out) inside.
	w.net.set("n3.example.", dns.TypeDS, "example.", dns.RcodeSuccess, w.example.sign(t, w.n3.ds(dns.SHA256)), nil)
	w.net.set("n3.example.", dns.TypeDNSKEY, "n3.example.", dns.RcodeSuccess, w.n3.keys(t), nil)
	w.n3NSEC3 = w.n3.nsec3Chain(t, map[string][]uint16{
		"n3.example.":     {dns.TypeSOA, dns.TypeNS, dns.TypeDNSKEY, dns.TypeNSEC3PARAM},
		"www.n3.example.": {dns.TypeA},
		"*.w.n3.example.": {dns.TypeA, dns.TypeTXT},
		"w.n3.example.":   nil, // empty non-terminal
		"sec.n3.example.": {dns.TypeNS, dns.TypeDS},
	}, 0, "", false)
	w.n3OptOut = w.n3.nsec3Chain(t, map[string][]uint16{
		"n3.example.":     {dns.TypeSOA, dns.TypeNS, dns.TypeDNSKEY, dns.TypeNSEC3PARAM},
		"www.n3.example.": {dns.TypeA},
	}, 0, "", true)
	return w
}

func (w *world) validator(t testing.TB, mod func(*Config)) *Validator {
	t.Helper()
	cfg := Config{Anchors: w.anchors, Fetcher: w.net, Now: func() time.Time { return testNow }}
	if mod != nil {
		mod(&cfg)
	}
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func reply(qname string, qtype uint16, rcode int, answer, ns []dns.RR) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(qname), qtype)
	m.Response, m.Rcode, m.Answer, m.Ns = true, rcode, answer, ns
	return m
}

// renamed copies a signed RRset with every owner changed to name, as a
// server expanding a wildcard does.
func renamed(set []dns.RR, name string) []dns.RR {
	var out []dns.RR
	for _, r := range set {
		c := dns.Copy(r)
		c.Header().Name = name
		out = append(out, c)
	}
	return out
}

// without returns set minus the records of drop.
func without(set, drop []dns.RR) []dns.RR {
	var out []dns.RR
next:
	for _, r := range set {
		for _, d := range drop {
			if r == d {
				continue next
			}
		}
		out = append(out, r)
	}
	return out
}
