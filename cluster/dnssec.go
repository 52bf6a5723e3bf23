package cluster

import (
	"path"
	"strings"

	"github.com/gitops-dns/resolverd/cluster/model"
	"github.com/gitops-dns/resolverd/resolver/dnssec"
	"github.com/gitops-dns/resolverd/zones"
	"github.com/miekg/dns"
	"go.yaml.in/yaml/v3"
)

func decodeDNSSEC(d *ydec, v *yaml.Node, p *model.DNSSECPolicy) {
	d.mapping(v, "dnssec", map[string]field{
		"validation": {fn: func(v *yaml.Node) {
			if b, ok := d.boolean(v, "dnssec.validation"); ok {
				p.Validation = b
			}
		}},
		"trust_anchors": {fn: func(v *yaml.Node) {
			if s, ok := d.str(v, "dnssec.trust_anchors"); ok {
				clean := path.Clean(s)
				if s == "" || path.IsAbs(s) || clean == ".." || strings.HasPrefix(clean, "../") {
					d.errorf(v, RulePolicy, "dnssec.trust_anchors must be a path inside the config folder, not %q", s)
					return
				}
				p.TrustAnchorsFile = clean
			}
		}},
		"negative_trust_anchors": {fn: func(v *yaml.Node) {
			seen := map[string]bool{}
			d.seq(v, "dnssec.negative_trust_anchors", func(_ int, item *yaml.Node) {
				s, ok := d.str(item, "dnssec.negative_trust_anchors entry")
				if !ok {
					return
				}
				if _, err := dnssec.NewNegativeAnchors([]string{s}); err != nil {
					d.errorf(item, RulePolicy, "dnssec.negative_trust_anchors: %v", err)
					return
				}
				name := dns.CanonicalName(s)
				if seen[name] {
					d.errorf(item, RulePolicy, "dnssec.negative_trust_anchors: %s listed twice", name)
					return
				}
				seen[name] = true
				p.NegativeTrustAnchors = append(p.NegativeTrustAnchors, name)
				p.NegativePos = append(p.NegativePos, d.pos(item))
			})
		}},
	})
}

// loadTrustAnchors reads dnssec.trust_anchors: an RFC 1035 master file of
// DS and DNSKEY records with absolute owner names (like Unbound's
// trust-anchor-file), each checked as resolver/dnssec will use it.
func (l *loader) loadTrustAnchors(rev *model.Revision) {
	name := rev.Policy.DNSSEC.TrustAnchorsFile
	if name == "" {
		return
	}
	data, ok := l.read(name, maxRecordFileSize, false)
	if !ok {
		return
	}
	file := l.path(name)
	recs, fs := parseRecordFile(file, data)
	l.findings = append(l.findings, fs...)
	if len(recs) == 0 && len(fs) == 0 {
		l.errorf(zones.Position{File: file}, RuleTrustAnchors, "no DS or DNSKEY record: an empty trust anchor file would trust nothing")
		return
	}
	for _, r := range recs {
		if err := dnssec.CheckAnchor(r.RR); err != nil {
			l.errorf(r.Pos, RuleTrustAnchors, "%v", err)
			continue
		}
		rev.TrustAnchors = append(rev.TrustAnchors, r.RR)
	}
	for i, nta := range rev.Policy.DNSSEC.NegativeTrustAnchors {
		for _, a := range rev.TrustAnchors {
			if dns.IsSubDomain(nta, a.Header().Name) {
				l.warnf(rev.Policy.DNSSEC.NegativePos[i], RuleTrustAnchors, "negative trust anchor %s disables the trust anchor for %s (%s)", nta, dns.CanonicalName(a.Header().Name), file)
				break
			}
		}
	}
}
