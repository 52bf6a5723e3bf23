// Package dnssectest owns the DNSSEC-signed fake internet the validation
// tests resolve against: a root, a TLD (example.) and child zones signed with
// Debian's bind9-utils (dnssec-keygen, dnssec-signzone; fresh keys every
// run), each served by NSD on loopback, in the variants a validator must
// tell apart: secure (NSEC and NSEC3), insecure (no DS), bogus (tampered
// data, expired signatures, a missing RRSIG, a DS matching no key, an NSEC3
// proof removed), algorithms the validator lacks (Ed448, an unknown one)
// and a KeyTrap zone (many DNSKEYs sharing one key tag, many signatures).
// For tests only; no production code imports it.
package dnssectest

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitops-dns/resolverd/internal/nsdtest"
	"github.com/miekg/dns"
)

// Loopback addresses of the servers: the root, example., and every child.
const (
	RootAddr  = "127.0.54.1"
	TLDAddr   = "127.0.54.2"
	ChildAddr = "127.0.54.3"
)

// Zone names of the variants (children of example.).
const (
	Secure     = "secure.example."     // ECDSA P-256, NSEC
	NSEC3      = "nsec3.example."      // RSA/SHA-256, NSEC3
	OptOut     = "optout.example."     // NSEC3 with opt-out
	NSEC3P256  = "nsec3p256.example."  // ECDSA P-256, NSEC3 without salt or extra iterations (RFC 9276 section 3.1), as bench's W3 zone
	Insecure   = "insecure.example."   // unsigned, no DS in example.
	Tampered   = "tampered.example."   // www's A changed after signing
	Expired    = "expired.example."    // every signature expired a day ago
	NoSig      = "nosig.example."      // www's A RRSIG removed
	WrongDS    = "wrongds.example."    // the DS in example. matches no DNSKEY
	NSEC3Gone  = "nsec3gone.example."  // the NSEC3 covering nope.nsec3gone.example. removed
	Ed448      = "ed448.example."      // signed with Ed448 (algorithm 16)
	UnknownAlg = "unknownalg.example." // the DS in example. names algorithm 253
	KeyTrap    = "keytrap.example."    // 40 DNSKEYs with one tag, 40 bad RRSIGs on every RRset
)

// Children lists every child zone.
var Children = []string{Secure, NSEC3, OptOut, NSEC3P256, Insecure, Tampered, Expired, NoSig, WrongDS, NSEC3Gone, Ed448, UnknownAlg, KeyTrap}

// Internet is a running signed fake internet.
type Internet struct {
	Port        int
	RootHints   string // root.hints text: NS of . and its address
	TrustAnchor string // trust anchor file text: the DS of the root's KSK
	Zones       map[string][]dns.RR
	Inception   time.Time // signatures (but Expired's) are valid from here
	Expiration  time.Time // to here
}

// Available reports whether the tools are installed; tests skip otherwise.
func Available() bool {
	for _, p := range []string{"dnssec-keygen", "dnssec-signzone"} {
		if _, err := exec.LookPath(p); err != nil {
			return false
		}
	}
	return nsdtest.Available()
}

func child(origin string) string {
	return fmt.Sprintf(`$TTL 300
@ IN SOA ns hostmaster 1 3600 600 86400 300
@ IN NS ns
ns IN A %s
www IN A 192.0.2.1
www IN AAAA 2001:db8::1
alias IN CNAME www
*.wild IN A 192.0.2.2
a.b IN A 192.0.2.3
txt IN TXT "%s"
`, ChildAddr, strings.TrimSuffix(origin, "."))
}

// Start builds, signs and serves the internet until the test ends.
func Start(t testing.TB) *Internet {
	t.Helper()
	dir := t.TempDir()
	now := time.Now().UTC()
	// Valid from 40 days ago: a test may move the validator's clock back
	// to when Expired's signatures (30 days ago to yesterday) were valid.
	in := &Internet{Zones: map[string][]dns.RR{}, Inception: now.Add(-40 * 24 * time.Hour), Expiration: now.Add(30 * 24 * time.Hour)}
	s := &signer{t: t, dir: dir, inception: in.Inception, expiration: in.Expiration}

	var tld strings.Builder
	fmt.Fprintf(&tld, "$TTL 300\n@ IN SOA ns.nic hostmaster.nic 1 3600 600 86400 300\n@ IN NS ns.nic\nns.nic IN A %s\n", TLDAddr)
	for _, c := range Children {
		label := strings.TrimSuffix(c, ".example.")
		fmt.Fprintf(&tld, "%s IN NS ns.%s\nns.%s IN A %s\n", label, label, label, ChildAddr)
		var rrs []dns.RR
		var ds []dns.RR
		switch c {
		case Insecure:
			rrs = parse(t, c, child(c))
		case NSEC3:
			rrs, ds = s.sign(c, child(c), "RSASHA256", "RSASHA256", []string{"-3", "-"}, nil)
		case NSEC3P256:
			rrs, ds = s.sign(c, child(c), "ECDSAP256SHA256", "ECDSAP256SHA256", []string{"-3", "-", "-H", "0"}, nil)
		case OptOut:
			rrs, ds = s.sign(c, child(c), "ECDSAP256SHA256", "ECDSAP256SHA256", []string{"-3", "AB12", "-A"}, nil)
		case Tampered:
			rrs, ds = s.sign(c, child(c), "ECDSAP256SHA256", "ECDSAP256SHA256", nil, nil)
			for _, rr := range rrs {
				if a, ok := rr.(*dns.A); ok && a.Hdr.Name == "www."+c {
					a.A = []byte{192, 0, 2, 66}
				}
			}
		case Expired:
			e := &signer{t: t, dir: dir, inception: now.Add(-30 * 24 * time.Hour), expiration: now.Add(-24 * time.Hour)}
			rrs, ds = e.sign(c, child(c), "ECDSAP256SHA256", "ECDSAP256SHA256", []string{"-P"}, nil)
		case NoSig:
			rrs, ds = s.sign(c, child(c), "ECDSAP256SHA256", "ECDSAP256SHA256", nil, nil)
			rrs = drop(rrs, func(rr dns.RR) bool {
				sig, ok := rr.(*dns.RRSIG)
				return ok && sig.Hdr.Name == "www."+c && sig.TypeCovered == dns.TypeA
			})
		case WrongDS:
			rrs, ds = s.sign(c, child(c), "ECDSAP256SHA256", "ECDSAP256SHA256", nil, nil)
			for _, rr := range ds {
				d := rr.(*dns.DS)
				d.Digest = flipHex(d.Digest)
			}
		case NSEC3Gone:
			rrs, ds = s.sign(c, child(c), "ECDSAP256SHA256", "ECDSAP256SHA256", []string{"-3", "-"}, nil)
			var gone string
			for _, rr := range rrs {
				if n, ok := rr.(*dns.NSEC3); ok && n.Cover("nope."+c) {
					gone = n.Hdr.Name
				}
			}
			if gone == "" {
				t.Fatalf("dnssectest: no NSEC3 covers nope.%s", c)
			}
			rrs = drop(rrs, func(rr dns.RR) bool { return rr.Header().Name == gone })
		case Ed448:
			rrs, ds = s.sign(c, child(c), "ED448", "ED448", nil, nil)
		case UnknownAlg:
			rrs, ds = s.sign(c, child(c), "ECDSAP256SHA256", "ECDSAP256SHA256", nil, nil)
			for _, rr := range ds {
				rr.(*dns.DS).Algorithm = 253
			}
		case KeyTrap:
			rrs, ds = s.sign(c, child(c), "RSASHA256", "RSASHA256", nil, keyTrapKeys)
			rrs = keyTrapSigs(rrs)
		default:
			rrs, ds = s.sign(c, child(c), "ECDSAP256SHA256", "ECDSAP256SHA256", nil, nil)
		}
		in.Zones[c] = rrs
		for _, d := range ds {
			tld.WriteString(d.String() + "\n")
		}
	}
	tldRRs, tldDS := s.sign("example.", tld.String(), "ECDSAP256SHA256", "ECDSAP256SHA256", nil, nil)
	in.Zones["example."] = tldRRs

	var root strings.Builder
	fmt.Fprintf(&root, "$TTL 86400\n. IN SOA a.root-servers.net. hostmaster.root-servers.net. 1 1800 900 604800 86400\n. IN NS a.root-servers.net.\nexample. IN NS ns.nic.example.\nns.nic.example. IN A %s\n", TLDAddr)
	for _, d := range tldDS {
		root.WriteString(d.String() + "\n")
	}
	rootRRs, rootDS := s.sign(".", root.String(), "ECDSAP256SHA256", "ECDSAP256SHA256", nil, nil)
	in.Zones["."] = rootRRs
	for _, d := range rootDS {
		in.TrustAnchor += d.String() + "\n"
	}
	in.RootHints = fmt.Sprintf(". 3600000 IN NS a.root-servers.net.\na.root-servers.net. 3600000 IN A %s\n", RootAddr)

	in.Port = nsdtest.FreePort(t, []string{RootAddr, TLDAddr, ChildAddr})
	nsdtest.Start(t, RootAddr, in.Port, map[string]string{".": text(in.Zones["."])})
	nsdtest.Start(t, TLDAddr, in.Port, map[string]string{"example.": text(in.Zones["example."])})
	children := map[string]string{}
	for _, c := range Children {
		children[c] = text(in.Zones[c])
	}
	nsdtest.Start(t, ChildAddr, in.Port, children)
	return in
}

// signer runs dnssec-keygen and dnssec-signzone.
type signer struct {
	t                     testing.TB
	dir                   string
	inception, expiration time.Time
}

// sign signs zone text for origin with a fresh KSK (kskAlg) and ZSK
// (zskAlg), extra dnssec-signzone flags, and extra records added to the
// zone before signing (made from the generated keys). It returns the signed
// records and the DS records for the parent.
func (s *signer) sign(origin, text, kskAlg, zskAlg string, flags []string, extra func(testing.TB, *dns.DNSKEY) []dns.RR) ([]dns.RR, []dns.RR) {
	t := s.t
	t.Helper()
	name := strings.TrimSuffix(origin, ".")
	if name == "" {
		name = "root"
	}
	kdir := filepath.Join(s.dir, name)
	if err := os.MkdirAll(kdir, 0o755); err != nil {
		t.Fatal(err)
	}
	ksk := s.run(kdir, "dnssec-keygen", "-q", "-K", kdir, "-a", kskAlg, "-f", "KSK", "-n", "ZONE", origin)
	zsk := s.run(kdir, "dnssec-keygen", "-q", "-K", kdir, "-a", zskAlg, "-n", "ZONE", origin)
	var keyText strings.Builder
	for _, k := range []string{ksk, zsk} {
		b, err := os.ReadFile(filepath.Join(kdir, strings.TrimSpace(k)+".key"))
		if err != nil {
			t.Fatal(err)
		}
		keyText.Write(b)
	}
	text += "$INCLUDE " + filepath.Join(kdir, strings.TrimSpace(ksk)+".key") + "\n"
	text += "$INCLUDE " + filepath.Join(kdir, strings.TrimSpace(zsk)+".key") + "\n"
	if extra != nil {
		zskRR := parse(t, origin, keyText.String())[1].(*dns.DNSKEY)
		for _, rr := range extra(t, zskRR) {
			text += rr.String() + "\n"
		}
	}
	in := filepath.Join(kdir, "zone")
	out := filepath.Join(kdir, "zone.signed")
	if err := os.WriteFile(in, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-q", "-K", kdir, "-d", kdir, "-o", origin, "-f", out,
		"-s", s.inception.Format("20060102150405"), "-e", s.expiration.Format("20060102150405")}
	args = append(args, flags...)
	args = append(args, in)
	s.run(kdir, "dnssec-signzone", args...)
	signed, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := os.ReadFile(filepath.Join(kdir, "dsset-"+strings.TrimSuffix(origin, ".")+"."))
	if origin == "." {
		ds, err = os.ReadFile(filepath.Join(kdir, "dsset-."))
	}
	if err != nil {
		t.Fatalf("dnssectest: DS set of %s: %v", origin, err)
	}
	dsRRs := parse(t, origin, string(ds))
	for _, rr := range dsRRs {
		rr.Header().Ttl = 3600 // dsset files carry none
	}
	return parse(t, origin, string(signed)), dsRRs
}

func (s *signer) run(dir, prog string, args ...string) string {
	s.t.Helper()
	cmd := exec.Command(prog, args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		s.t.Fatalf("dnssectest: %s %s: %v\n%s%s", prog, strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

func parse(t testing.TB, origin, text string) []dns.RR {
	t.Helper()
	zp := dns.NewZoneParser(strings.NewReader(text), origin, "")
	zp.SetIncludeAllowed(true)
	var out []dns.RR
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		out = append(out, rr)
	}
	if err := zp.Err(); err != nil {
		t.Fatalf("dnssectest: parse %s: %v", origin, err)
	}
	return out
}

func text(rrs []dns.RR) string {
	var b strings.Builder
	for _, rr := range rrs {
		b.WriteString(rr.String())
		b.WriteByte('\n')
	}
	return b.String()
}

func drop(rrs []dns.RR, f func(dns.RR) bool) []dns.RR {
	var out []dns.RR
	for _, rr := range rrs {
		if !f(rr) {
			out = append(out, rr)
		}
	}
	return out
}

// flipHex changes the first hex digit of a digest.
func flipHex(h string) string {
	if h == "" {
		return h
	}
	c := "0"
	if h[0] == '0' {
		c = "1"
	}
	return c + h[1:]
}

// KeyTrapKeys is how many extra DNSKEYs share the ZSK's key tag in
// keytrap.example., and how many bad RRSIGs each of its RRsets carries.
const KeyTrapKeys = 40

// keyTrapKeys makes DNSKEYs with the ZSK's key tag: the tag is a sum of
// the RDATA's bytes at even and at odd offsets (RFC 4034 appendix B), so
// adding d to one byte and taking d from another at the same parity keeps
// it. The keys are valid RSA public keys (the modulus changes), so
// verifying with them costs a real RSA operation.
func keyTrapKeys(t testing.TB, zsk *dns.DNSKEY) []dns.RR {
	t.Helper()
	pub, err := base64.StdEncoding.DecodeString(zsk.PublicKey)
	if err != nil {
		t.Fatalf("dnssectest: ZSK key: %v", err)
	}
	var out []dns.RR
	for i := 0; len(out) < KeyTrapKeys; i++ {
		k := *zsk
		p := append([]byte{}, pub...)
		// Bytes 20.. are inside the modulus (after the exponent length and
		// exponent); offsets 20+2i and 22+2i share parity.
		a, b := 20+2*i, 22+2*i
		if b >= len(p) {
			t.Fatalf("dnssectest: key too short for %d collisions", KeyTrapKeys)
		}
		if p[a] == 0xff || p[b] == 0 {
			continue
		}
		p[a]++
		p[b]--
		k.PublicKey = base64.StdEncoding.EncodeToString(p)
		if k.KeyTag() != zsk.KeyTag() {
			t.Fatalf("dnssectest: collision arithmetic is wrong (%d != %d)", k.KeyTag(), zsk.KeyTag())
		}
		out = append(out, &k)
	}
	return out
}

// keyTrapSigs replaces the RRSIGs of every RRset but the DNSKEY RRset by
// KeyTrapKeys signatures with the ZSK's tag that verify under no key, so
// every answer from the zone (positive or a denial) sends a validator
// through every colliding key and signature it is willing to try.
func keyTrapSigs(rrs []dns.RR) []dns.RR {
	var protos []*dns.RRSIG
	out := drop(rrs, func(rr dns.RR) bool {
		sig, ok := rr.(*dns.RRSIG)
		if ok && sig.TypeCovered != dns.TypeDNSKEY {
			protos = append(protos, sig)
			return true
		}
		return false
	})
	for _, proto := range protos {
		sig, err := base64.StdEncoding.DecodeString(proto.Signature)
		if err != nil || len(sig) < 2 {
			continue
		}
		for i := 0; i < KeyTrapKeys; i++ {
			s := *proto
			b := append([]byte{}, sig...)
			b[0] ^= byte(i + 1)
			b[len(b)/2] ^= 0x5a
			s.Signature = base64.StdEncoding.EncodeToString(b)
			out = append(out, &s)
		}
	}
	return out
}
