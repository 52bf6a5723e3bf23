package dnssec

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestKeyTrap: a zone with many DNSKEYs sharing one key tag and many
// signatures over one RRset (CVE-2023-50387) costs at most the per-RRset
// and per-query limits, and the answer is bogus, not a stall.
func TestKeyTrap(t *testing.T) {
	w := newWorld(t, dns.ECDSAP256SHA256)
	ex := w.example
	// 40 keys, each claiming the ZSK's tag (the tag is what the attacker
	// collides; here the keys are copies with the tag forced by reusing
	// the ZSK's public key bytes mutated, which keeps the tag computation
	// honest: we search for colliding mutations).
	target := ex.zsk.KeyTag()
	keys := []dns.RR{ex.ksk, ex.zsk}
	for i := 0; len(keys) < 42 && i < 1<<20; i++ {
		k := *ex.zsk
		b := []byte(k.PublicKey)
		b[4+i%40] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"[i%62]
		b[44+(i/40)%40] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"[(i/7)%62]
		k.PublicKey = string(b)
		if k.KeyTag() == target && k.PublicKey != ex.zsk.PublicKey {
			keys = append(keys, &k)
		}
	}
	if len(keys) < 10 {
		t.Fatalf("found only %d colliding keys", len(keys)-2)
	}
	keyset := append(keys[:len(keys):len(keys)], ex.sigWith(t, ex.ksk, ex.kskPriv, keys))
	w.net.set("example.", dns.TypeDNSKEY, "example.", 0, keyset, nil)

	a := rr(t, "www.example. 300 IN A 192.0.2.1")
	good := ex.sign(t, a)
	// 50 signatures with the colliding tag, all garbage, ahead of no good one.
	answer := []dns.RR{a}
	for i := 0; i < 50; i++ {
		s := *good[1].(*dns.RRSIG)
		s.Signature = strings.Repeat("A", len(s.Signature)-4) + "AA=="
		answer = append(answer, &s)
	}
	v := w.validator(t, nil)
	b := v.NewBudget()
	got := v.Validate(context.Background(), b, "www.example.", dns.TypeA, reply("www.example.", dns.TypeA, 0, answer, nil), "example.")
	if got.Status != Bogus {
		t.Fatalf("got %v, want bogus", got)
	}
	spent, _ := b.Spent()
	// Chain: root DNSKEY, example DS, example DNSKEY = 3; the answer at most
	// MaxSigsPerRRset (8) signatures x MaxKeysPerTag (2) keys.
	if spent > 3+8*2 {
		t.Errorf("spent %d signature verifications, want at most %d", spent, 3+8*2)
	}

	// Many such RRsets in one response stop at the per-query budget.
	many := []dns.RR{}
	for i := 0; i < 20; i++ {
		name := "h" + string(rune('a'+i)) + ".example."
		r := rr(t, name+" 300 IN A 192.0.2.1")
		many = append(many, r)
		for j := 0; j < 8; j++ {
			s := *good[1].(*dns.RRSIG)
			s.Hdr.Name = name
			s.Signature = strings.Repeat("B", len(s.Signature)-4) + "AA=="
			many = append(many, &s)
		}
	}
	b = v.NewBudget()
	got = v.Validate(context.Background(), b, "ha.example.", dns.TypeA, reply("ha.example.", dns.TypeA, 0, many, nil), "example.")
	if got.Status != Bogus {
		t.Fatalf("many RRsets: got %v, want bogus", got)
	}
	if spent, _ := b.Spent(); spent > 30 {
		t.Errorf("many RRsets: spent %d verifications, more than the per-query 30", spent)
	}
}

// TestKeyTrapBudget: once the per-query budget is spent, the result is
// bogus and says the limit was reached.
func TestKeyTrapBudget(t *testing.T) {
	w := newWorld(t, dns.ECDSAP256SHA256)
	v := w.validator(t, func(c *Config) { c.Limits.MaxValidations = 3 })
	b := v.NewBudget()
	a := w.example.sign(t, rr(t, "www.example. 300 IN A 192.0.2.1"))
	got := v.Validate(context.Background(), b, "www.example.", dns.TypeA, reply("www.example.", dns.TypeA, 0, a, nil), "example.")
	if got.Status != Bogus || !got.Limited() {
		t.Fatalf("got %v, want bogus by the work limit", got)
	}
	// The keys validated before the limit are cached and the cut-short
	// result is not: the next query needs one verification and passes.
	got = v.Validate(context.Background(), v.NewBudget(), "www.example.", dns.TypeA, reply("www.example.", dns.TypeA, 0, a, nil), "example.")
	if got.Status != Secure {
		t.Fatalf("second query: %v, want secure", got)
	}
	v2 := w.validator(t, nil)
	if got := v2.Validate(context.Background(), v2.NewBudget(), "www.example.", dns.TypeA, reply("www.example.", dns.TypeA, 0, a, nil), "example."); got.Status != Secure {
		t.Fatalf("default limits: %v", got)
	}
}

// TestNSEC3HashBudget: a denial for a deep name in a zone with many
// iterations stops at the per-query hash budget (CVE-2023-50868).
func TestNSEC3HashBudget(t *testing.T) {
	w := newWorld(t, dns.ECDSAP256SHA256)
	n3 := w.n3
	chain := n3.nsec3Chain(t, map[string][]uint16{"n3.example.": {dns.TypeSOA}, "www.n3.example.": {dns.TypeA}}, 150, "ABCD", false)
	deep := strings.Repeat("a.", 30) + "n3.example."
	var ns []dns.RR
	ns = append(ns, n3.sign(t, w.n3SOA)...)
	for _, set := range chain {
		ns = append(ns, set...)
	}
	v := w.validator(t, nil)
	b := v.NewBudget()
	got := v.Validate(context.Background(), b, deep, dns.TypeA, reply(deep, dns.TypeA, dns.RcodeNameError, nil, ns), "n3.example.")
	if got.Status != Bogus || !got.Limited() {
		t.Fatalf("got %v, want bogus by the hash limit", got)
	}
	if _, hashes := b.Spent(); hashes > 600 {
		t.Errorf("spent %d hash computations, more than 600", hashes)
	}
}

func TestCanonicalOrder(t *testing.T) {
	// RFC 4034 section 6.1's example, in order.
	names := []string{"example.", "a.example.", "yljkjljk.a.example.", "Z.a.example.", "zABC.a.EXAMPLE.", "z.example.", "\\001.z.example.", "*.z.example.", "\\200.z.example."}
	for i := 0; i+1 < len(names); i++ {
		if c := compareNames(names[i], names[i+1]); c >= 0 {
			t.Errorf("compareNames(%q, %q) = %d, want < 0", names[i], names[i+1], c)
		}
		if c := compareNames(names[i+1], names[i]); c <= 0 {
			t.Errorf("compareNames(%q, %q) = %d, want > 0", names[i+1], names[i], c)
		}
	}
	if compareNames("A.example.", "a.EXAMPLE.") != 0 {
		t.Error("case must not matter")
	}
	// Octets past US-ASCII are compared as they are, never folded or
	// decoded (RFC 4034 section 6.2 lowers only US-ASCII letters): É
	// (\195\137 in UTF-8) sorts before à (\195\160), and distinct octets
	// that are not UTF-8 stay distinct.
	for _, tc := range []struct{ a, b string }{
		{`\195\137.example.`, `\195\160.example.`},
		{`\200.example.`, `\255.example.`},
		{`\193.example.`, `\225.example.`},
		{`Z.example.`, `\200.example.`},
	} {
		if c := compareNames(tc.a, tc.b); c >= 0 {
			t.Errorf("compareNames(%q, %q) = %d, want < 0", tc.a, tc.b, c)
		}
		if c := compareNames(tc.b, tc.a); c <= 0 {
			t.Errorf("compareNames(%q, %q) = %d, want > 0", tc.b, tc.a, c)
		}
	}
	if n := testing.AllocsPerRun(100, func() { compareNames("yljkjljk.a.example.", "Z.a.EXAMPLE.") }); n != 0 {
		t.Errorf("compareNames allocates %v times, want 0", n)
	}
}

// FuzzCompareNames: compareNames orders any two names as a plain reading
// of RFC 4034 section 6.1 does: their labels from the root, each with
// ASCII letters lowered, compared as octets.
func FuzzCompareNames(f *testing.F) {
	for _, s := range [][2]string{{"example.", "a.example."}, {`\195\137.x.`, `\195\160.x.`}, {"A.b.", "a.B."}, {".", "com."}} {
		f.Add(s[0], s[1])
	}
	labels := func(name string) ([][]byte, bool) {
		buf := make([]byte, 256)
		n, err := dns.PackDomainName(dns.Fqdn(name), buf, 0, nil, false)
		if err != nil {
			return nil, false
		}
		var out [][]byte
		for i := 0; buf[i] != 0; i += int(buf[i]) + 1 {
			var l []byte
			for _, c := range buf[i+1 : i+1+int(buf[i])] {
				if c >= 'A' && c <= 'Z' {
					c += 'a' - 'A'
				}
				l = append(l, c)
			}
			out = append([][]byte{l}, out...)
		}
		_ = n
		return out, true
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		la, oka := labels(a)
		lb, okb := labels(b)
		if !oka || !okb {
			return
		}
		want := len(la) - len(lb)
		for i := 0; i < len(la) && i < len(lb); i++ {
			if c := bytes.Compare(la[i], lb[i]); c != 0 {
				want = c
				break
			}
		}
		got := compareNames(a, b)
		if (got < 0) != (want < 0) || (got > 0) != (want > 0) {
			t.Fatalf("compareNames(%q, %q) = %d, want the sign of %d", a, b, got, want)
		}
	})
}

func TestAnchors(t *testing.T) {
	root := RootAnchors()
	ds := root.At(".")
	tags := map[uint16]bool{}
	for _, d := range ds {
		tags[d.KeyTag] = true
	}
	if len(ds) != 2 || !tags[20326] || !tags[38696] {
		t.Fatalf("built-in root anchors: %v", ds)
	}
	if z, ok := root.Closest("www.example.com."); !ok || z != "." {
		t.Errorf("Closest = %q, %v", z, ok)
	}
	z := newZone(t, "corp.example.", dns.ED25519)
	tests := []struct {
		rr string
		ok bool
	}{
		{"corp.example. IN DS 1 8 2 ABCD", true},
		{z.ksk.String(), true},
		{"corp.example. IN DNSKEY 0 3 8 AwEAAQ==", false},   // not a zone key
		{"corp.example. IN DNSKEY 385 3 8 AwEAAQ==", false}, // revoked
		{"corp.example. IN A 192.0.2.1", false},
		{"corp.example. CH DS 1 8 2 ABCD", false},
	}
	for _, tc := range tests {
		err := CheckAnchor(rr(t, tc.rr))
		if (err == nil) != tc.ok {
			t.Errorf("CheckAnchor(%s) = %v, want ok=%v", tc.rr, err, tc.ok)
		}
	}
	a, err := NewAnchors([]dns.RR{z.ksk})
	if err != nil {
		t.Fatal(err)
	}
	if got := a.At("corp.example."); len(got) != 1 || got[0].KeyTag != z.ksk.KeyTag() {
		t.Errorf("DNSKEY anchor kept as %v", got)
	}
	if _, ok := a.Closest("www.example."); ok {
		t.Error("an anchor for corp.example. covers www.example.")
	}
}

// TestVerifiedOnce: a signature that verified is not verified again (the
// same key, signature and records), so the denial every name of a gap
// shares costs one verification; a changed record is verified afresh.
func TestVerifiedOnce(t *testing.T) {
	w := newWorld(t, dns.ECDSAP256SHA256)
	v := w.validator(t, nil)
	ns := concat(w.example.sign(t, w.exSOA), coverOf(t, w.exampleNSEC, "nope.example."), coverOf(t, w.exampleNSEC, "*.example."))
	m := reply("nope.example.", dns.TypeA, dns.RcodeNameError, nil, ns)
	if got := v.Validate(context.Background(), v.NewBudget(), "nope.example.", dns.TypeA, m, "example."); got.Status != Secure {
		t.Fatal(got)
	}
	b := v.NewBudget()
	if got := v.Validate(context.Background(), b, "nope.example.", dns.TypeA, m, "example."); got.Status != Secure {
		t.Fatal(got)
	}
	if spent, _ := b.Spent(); spent != 0 {
		t.Errorf("the same denial again cost %d verifications, want 0", spent)
	}
	a := w.example.sign(t, rr(t, "www.example. 300 IN A 192.0.2.1"))
	v.Validate(context.Background(), v.NewBudget(), "www.example.", dns.TypeA, reply("www.example.", dns.TypeA, 0, a, nil), "example.")
	forged := []dns.RR{rr(t, "www.example. 300 IN A 192.0.2.66"), a[1]}
	if got := v.Validate(context.Background(), v.NewBudget(), "www.example.", dns.TypeA, reply("www.example.", dns.TypeA, 0, forged, nil), "example."); got.Status != Bogus {
		t.Fatalf("changed data under a signature seen before: %v, want bogus", got)
	}
}

// TestVerifiedOnceWildcard: the one signature of a wildcard verifies once
// for every name it answers (RFC 4035 section 5.3.2 rebuilds the same
// signed data for each), while what depends on the name asked is checked
// each time: data changed under the signature, the signature replayed
// under another parent or on a name with fewer labels than it says, an
// expired window and a missing no-closer-match proof are all still
// refused, on a validator that has the signature memoised.
func TestVerifiedOnceWildcard(t *testing.T) {
	w := newWorld(t, dns.ECDSAP256SHA256)
	now := testNow
	v := w.validator(t, func(c *Config) { c.Now = func() time.Time { return now } })
	short := *w.n3
	short.expiry = testNow.Add(10 * time.Minute) // the keys' signatures outlive it
	wild := short.sign(t, rr(t, "*.w.n3.example. 300 IN A 192.0.2.80"))
	// answer is set expanded for name, with the NSEC3 covering the next
	// closer name (below w.n3.example.) unless proof is false.
	answer := func(name string, set []dns.RR, proof bool) *dns.Msg {
		var ns []dns.RR
		if proof {
			ns = coverOf(t, w.n3NSEC3, nextCloser(name, "w.n3.example."))
		}
		return reply(name, dns.TypeA, 0, renamed(set, name), ns)
	}
	// Every NSEC3 signature of the chain verified once: what the cases
	// spend is the answer's.
	for _, set := range w.n3NSEC3 {
		owner := set[0].Header().Name
		if got := v.Validate(context.Background(), v.NewBudget(), owner, dns.TypeNSEC3, reply(owner, dns.TypeNSEC3, 0, set, nil), "n3.example."); got.Status != Secure {
			t.Fatal(got)
		}
	}
	warm := "first.w.n3.example."
	if got := v.Validate(context.Background(), v.NewBudget(), warm, dns.TypeA, answer(warm, wild, true), "n3.example."); got.Status != Secure {
		t.Fatal(got)
	}
	forged := []dns.RR{rr(t, "*.w.n3.example. 300 IN A 192.0.2.66"), wild[1]}
	tests := []struct {
		name   string
		qname  string
		msg    *dns.Msg
		later  time.Duration
		status Status
		ede    uint16
		spent  int // signature verifications
	}{
		{"another name under the wildcard", "second.w.n3.example.", answer("second.w.n3.example.", wild, true), 0, Secure, 0, 0},
		{"two labels below the wildcard", "a.b.w.n3.example.", answer("a.b.w.n3.example.", wild, true), 0, Secure, 0, 0},
		{"the wildcard's own name", "*.w.n3.example.", reply("*.w.n3.example.", dns.TypeA, 0, wild, nil), 0, Secure, 0, 0},
		{"data changed under the signature", "third.w.n3.example.", answer("third.w.n3.example.", forged, true), 0, Bogus, EDEBogus, 1},
		{"signature replayed under another parent", "x.other.n3.example.", answer("x.other.n3.example.", wild, true), 0, Bogus, EDEBogus, 1},
		{"signature with more labels than the owner", "n3.example.", reply("n3.example.", dns.TypeA, 0, renamed(wild, "n3.example."), nil), 0, Bogus, EDERRSIGsMissing, 0},
		{"no proof that no closer name exists", "fourth.w.n3.example.", answer("fourth.w.n3.example.", wild, false), 0, Bogus, EDENSECMissing, 0},
		{"signature expired since", "fifth.w.n3.example.", answer("fifth.w.n3.example.", wild, true), 20 * time.Minute, Bogus, EDESignatureExpired, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now = testNow.Add(tc.later)
			defer func() { now = testNow }()
			b := v.NewBudget()
			got := v.Validate(context.Background(), b, tc.qname, dns.TypeA, tc.msg, "n3.example.")
			if got.Status != tc.status || (tc.ede != 0 && got.EDE != tc.ede) {
				t.Errorf("got %v, want %v (EDE %d)", got, tc.status, tc.ede)
			}
			if spent, _ := b.Spent(); spent != tc.spent {
				t.Errorf("%d signature verifications, want %d", spent, tc.spent)
			}
		})
	}
}

// A hash the validation already computed is free, whether it is one of
// the first few or one of many.
func TestBudgetHashRepeatsFree(t *testing.T) {
	b := NewBudget(Limits{})
	names := make([]string, 3*maxListedHashes)
	for i := range names {
		names[i] = fmt.Sprintf("n%d.example.", i)
	}
	first := map[string]string{}
	for i, n := range names {
		h, err := b.hash(n, dns.SHA1, 2, "AB")
		if err != nil {
			t.Fatal(err)
		}
		first[n] = h
		if _, spent := b.Spent(); spent != 3*(i+1) {
			t.Fatalf("after %d names: %d hash computations spent, want %d", i+1, spent, 3*(i+1))
		}
	}
	for _, n := range names {
		h, err := b.hash(strings.ToUpper(n), dns.SHA1, 2, "ab")
		if err != nil || h != first[n] {
			t.Fatalf("%s again: %q %v, want %q", n, h, err, first[n])
		}
		if want := dns.HashName(n, dns.SHA1, 2, "AB"); h != want {
			t.Fatalf("%s: %q, want %q", n, h, want)
		}
	}
	if _, spent := b.Spent(); spent != 3*len(names) {
		t.Fatalf("repeats spent computations: %d in all, want %d", spent, 3*len(names))
	}
}

// TestVerifiedOnceKeyCoversRRSIG: the memo of verified signatures is keyed
// by every RRSIG field that the signed data or the signature holds, so a
// copy of a verified RRSIG with any of them changed is verified again (and
// refused), while the same RRSIG with its signer in another case is the
// same verification (RFC 4034 section 6.2: the signer is signed in lower
// case).
func TestVerifiedOnceKeyCoversRRSIG(t *testing.T) {
	w := newWorld(t, dns.ECDSAP256SHA256)
	v := w.validator(t, nil)
	a := w.example.sign(t, rr(t, "www.example. 300 IN A 192.0.2.1"))
	sig := a[1].(*dns.RRSIG)
	validate := func(s *dns.RRSIG) (Result, int) {
		b := v.NewBudget()
		got := v.Validate(context.Background(), b, "www.example.", dns.TypeA, reply("www.example.", dns.TypeA, 0, []dns.RR{a[0], s}, nil), "example.")
		spent, _ := b.Spent()
		return got, spent
	}
	if got, _ := validate(sig); got.Status != Secure {
		t.Fatal(got)
	}
	upper := dns.Copy(sig).(*dns.RRSIG)
	upper.SignerName = "EXAMPLE."
	if got, spent := validate(upper); got.Status != Secure || spent != 0 {
		t.Errorf("signer in upper case: %v after %d verifications, want secure from the memo", got, spent)
	}
	for name, change := range map[string]func(s *dns.RRSIG){
		"signature":    func(s *dns.RRSIG) { s.Signature = strings.Replace(s.Signature, s.Signature[:2], "AA", 1) },
		"original TTL": func(s *dns.RRSIG) { s.OrigTtl++ },
		"inception":    func(s *dns.RRSIG) { s.Inception-- },
		"expiration":   func(s *dns.RRSIG) { s.Expiration++ },
	} {
		s := dns.Copy(sig).(*dns.RRSIG)
		change(s)
		if s.Signature == sig.Signature && name == "signature" {
			t.Fatal("the signature did not change")
		}
		if got, spent := validate(s); got.Status != Bogus || spent != 1 {
			t.Errorf("%s changed: %v after %d verifications, want bogus after 1", name, got, spent)
		}
	}
}

// TestNSECCoversOctetsAsTheyAre: an NSEC between two names with octets
// past US-ASCII covers what lies between them in canonical order and
// nothing else. Lowering those octets as Unicode (É to é) put the owner
// after its next name, so the NSEC read as the zone's last and "covered"
// an existing name after both: a signed NSEC replayed as proof that it
// does not exist.
func TestNSECCoversOctetsAsTheyAre(t *testing.T) {
	n := &dns.NSEC{Hdr: dns.RR_Header{Name: `\195\137.example.`, Rrtype: dns.TypeNSEC, Class: dns.ClassINET}, NextDomain: `\195\160.example.`}
	for name, want := range map[string]bool{
		`\195\144.example.`: true,  // between É (0x89) and à (0xa0)
		`\195\176.example.`: false, // ð (0xb0): after both
		`\195\137.example.`: false, // the owner itself
		`b.example.`:        false, // before both
	} {
		if got := nsecCovers(n, name); got != want {
			t.Errorf("NSEC %s -> %s covers %s: %v, want %v", n.Hdr.Name, n.NextDomain, name, got, want)
		}
	}
}
