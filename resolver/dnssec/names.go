package dnssec

import (
	"bytes"

	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/internal/dnsname"
)

// canonical is a name in lower case with its final dot (RFC 4034 section
// 6.2 for the case; the resolver already uses absolute names).
func canonical(name string) string { return dns.CanonicalName(name) }

// wireLabels returns name's labels as lower-cased wire octets, rightmost
// (closest to the root) first; nil for a name that does not pack.
func wireLabels(name string) [][]byte {
	buf := make([]byte, 256)
	n, err := dns.PackDomainName(dns.Fqdn(name), buf, 0, nil, false)
	if err != nil {
		return nil
	}
	buf = buf[:n]
	var labels [][]byte
	for i := 0; i < len(buf) && buf[i] != 0; {
		l := int(buf[i])
		if i+1+l > len(buf) {
			return nil
		}
		labels = append(labels, bytes.ToLower(buf[i+1:i+1+l]))
		i += 1 + l
	}
	for i, j := 0, len(labels)-1; i < j; i, j = i+1, j-1 {
		labels[i], labels[j] = labels[j], labels[i]
	}
	return labels
}

// compareNames orders two names canonically (RFC 4034 section 6.1): label
// by label from the root, each label as lower-cased octets, a name sorting
// before its descendants.
func compareNames(a, b string) int {
	la, lb := wireLabels(a), wireLabels(b)
	for i := 0; i < len(la) && i < len(lb); i++ {
		if c := bytes.Compare(la[i], lb[i]); c != 0 {
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
