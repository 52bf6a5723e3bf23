// Package dnsname owns the comparisons of domain names in presentation
// form that the query path makes for every answer, without allocating:
// whether a name is at or below another (bailiwick, zone cuts, the
// validator's signer and denial checks), label equality without ASCII
// case (RFC 4343) and the lower-case form of a name, with only ASCII
// letters lowered (zones, the fast path and the checks of a revision key
// names that way). The resolver and its validator both ask here, so that
// they decide alike; miekg/dns's own versions split both names into new
// slices each time.
//
// It knows nothing about CoreDNS.
package dnsname

import (
	"strings"

	"github.com/miekg/dns"
)

// IsSubDomain is dns.IsSubDomain(parent, child) for absolute names without
// its allocations (dns.Split of both names): child equals parent or ends
// with "." + parent at an unescaped label boundary, ASCII case ignored
// (RFC 4343 section 3). Names that are not absolute go to dns.IsSubDomain.
func IsSubDomain(parent, child string) bool {
	if !strings.HasSuffix(parent, ".") || !strings.HasSuffix(child, ".") {
		return dns.IsSubDomain(parent, child)
	}
	if parent == "." {
		return true
	}
	cut := len(child) - len(parent)
	if cut < 0 || !EqualFold(child[cut:], parent) {
		return false
	}
	if cut == 0 {
		return true
	}
	if child[cut-1] != '.' {
		return false
	}
	// The dot must end a label, not be an escaped "\." inside one.
	slashes := 0
	for i := cut - 2; i >= 0 && child[i] == '\\'; i-- {
		slashes++
	}
	return slashes%2 == 0
}

// Lower returns s with ASCII letters lowered and every other octet as it
// is (RFC 4343 section 3; strings.ToLower folds Unicode: the Kelvin sign
// becomes "k"). s itself is returned, without allocating, when it has no
// upper-case ASCII letter.
func Lower(s string) string {
	i := 0
	for i < len(s) && (s[i] < 'A' || s[i] > 'Z') {
		i++
	}
	if i == len(s) {
		return s
	}
	b := []byte(s)
	for ; i < len(b); i++ {
		if c := b[i]; c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// EqualFold reports whether a and b are equal with ASCII letters folded,
// and no other octet (RFC 4343 section 3; strings.EqualFold folds Unicode).
func EqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x >= 'A' && x <= 'Z' {
			x += 'a' - 'A'
		}
		if y >= 'A' && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
