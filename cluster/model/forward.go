package model

import (
	"crypto/tls"
	"crypto/x509"
	"sort"
	"strings"

	"github.com/miekg/dns"
)

// SortForward orders rules longest zone first (most labels, then longest
// text, then by name), so the first rule that matches a name is the one
// that applies.
func SortForward(rules []ForwardRule) {
	sort.SliceStable(rules, func(i, j int) bool {
		a, b := rules[i].Zone, rules[j].Zone
		la, lb := dns.CountLabel(a), dns.CountLabel(b)
		if la != lb {
			return la > lb
		}
		if len(a) != len(b) {
			return len(a) > len(b)
		}
		return a < b
	})
}

// MatchForward returns the rule of rules (sorted by SortForward) that
// applies to qname — the longest zone at or above it — or nil.
func MatchForward(rules []ForwardRule, qname string) *ForwardRule {
	q := strings.ToLower(dns.Fqdn(qname))
	for i := range rules {
		if dns.IsSubDomain(rules[i].Zone, q) {
			return &rules[i]
		}
	}
	return nil
}

// ShortID is the 12-character form of a commit id that reports, messages
// and dnsctl's output show (an id of 12 characters or fewer is returned
// whole).
func ShortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// TLSConfig is how target i of r is asked over DNS over TLS, or nil for a
// plain target: its certificate must chain to the rule's tls_ca (and to
// nothing else) and carry the name written after @ (RFC 8310 section 8.1,
// the strict profile: no fallback to an unauthenticated or clear-text
// connection), over TLS 1.2 or later (RFC 8310 section 9 and RFC 9325).
// The resolver's forwarder and dnsctl verify both use it.
func (r *ForwardRule) TLSConfig(i int) *tls.Config {
	if !r.IsTLS(i) {
		return nil
	}
	pool := x509.NewCertPool()
	if r.TLSCA != nil {
		for _, c := range r.TLSCA.Certs {
			pool.AddCert(c)
		}
	}
	return &tls.Config{ServerName: r.TLSName[i], RootCAs: pool, MinVersion: tls.VersionTLS12}
}
