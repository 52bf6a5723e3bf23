package dnssec

import (
	"bytes"

	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/internal/dnsname"
)

// canonical is a name with its final dot and ASCII letters lowered, every
// other octet as it is (RFC 4034 section 6.2; dns.CanonicalName goes
// through strings.Map, which turns octets that are not UTF-8 into U+FFFD).
func canonical(name string) string { return dnsname.Lower(dns.Fqdn(name)) }

// canonicalWire is name in uncompressed wire form with ASCII letters
// lowered (RFC 4034 section 6.2: only US-ASCII; other octets are left as
// they are), packed into buf (256 octets), and the offsets of its labels,
// leftmost first, into offs; ok is false for a name that does not pack.
func canonicalWire(name string, buf *[256]byte, offs *[128]uint8) (wire []byte, labels []uint8, ok bool) {
	n, err := dns.PackDomainName(dns.Fqdn(name), buf[:], 0, nil, false)
	if err != nil {
		return nil, nil, false
	}
	wire, labels = buf[:n], offs[:0]
	for i := 0; i < n && wire[i] != 0; i += int(wire[i]) + 1 {
		if i+1+int(wire[i]) > n || len(labels) == len(offs) {
			return nil, nil, false
		}
		labels = append(labels, uint8(i))
		for k := i + 1; k <= i+int(wire[i]); k++ {
			if c := wire[k]; c >= 'A' && c <= 'Z' {
				wire[k] = c + 'a' - 'A'
			}
		}
	}
	return wire, labels, true
}

// compareNames orders two names canonically (RFC 4034 section 6.1): label
// by label from the root, each label as octets with ASCII letters
// lowered, a name sorting before its descendants. A name that does not
// pack counts as having no labels. It does not allocate.
func compareNames(a, b string) int {
	var ba, bb [256]byte
	var oa, ob [128]uint8
	wa, la, _ := canonicalWire(a, &ba, &oa)
	wb, lb, _ := canonicalWire(b, &bb, &ob)
	for i := 1; i <= len(la) && i <= len(lb); i++ {
		x, y := la[len(la)-i], lb[len(lb)-i]
		if c := bytes.Compare(wa[x+1:int(x)+1+int(wa[x])], wb[y+1:int(y)+1+int(wb[y])]); c != 0 {
			return c
		}
	}
	return len(la) - len(lb)
}

// isStrictSubdomain reports whether child is below parent and not parent.
func isStrictSubdomain(parent, child string) bool {
	return dnsname.IsSubDomain(parent, child) && !equalNames(parent, child)
}

// equalNames reports whether a and b are the same name: ASCII case
// ignored and no other octet folded (RFC 4343 section 3; strings.EqualFold
// would also fold Unicode, as the Kelvin sign to "k").
func equalNames(a, b string) bool { return dnsname.EqualFold(dns.Fqdn(a), dns.Fqdn(b)) }

// parentName is name without its first label; "." for a top-level name
// and for the root.
func parentName(name string) string {
	off, end := dns.NextLabel(name, 0)
	if end {
		return "."
	}
	return name[off:]
}

// ancestorWithLabels is the ancestor of name (or name) that has n labels.
func ancestorWithLabels(name string, n int) string {
	if n <= 0 {
		return "."
	}
	off := 0
	for skip := dns.CountLabel(name) - n; skip > 0; skip-- {
		off, _ = dns.NextLabel(name, off)
	}
	return name[off:]
}

// commonAncestor is the longest name that is an ancestor of (or equal to)
// both a and b.
func commonAncestor(a, b string) string {
	return ancestorWithLabels(a, dns.CompareDomainName(a, b))
}

// nextCloser is the name one label longer than ancestor on the way to name
// (RFC 5155 section 1.3); ancestor must be a strict ancestor of name.
func nextCloser(name, ancestor string) string {
	return ancestorWithLabels(name, dns.CountLabel(ancestor)+1)
}

func hasType(bitmap []uint16, t uint16) bool {
	for _, b := range bitmap {
		if b == t {
			return true
		}
	}
	return false
}
