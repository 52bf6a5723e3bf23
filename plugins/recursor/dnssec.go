package recursor

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/node"
	"github.com/gitops-dns/resolverd/resolver"
	"github.com/gitops-dns/resolverd/resolver/dnssec"
)

// dnssecFor is the validation configuration snap asks for (nil when
// policy.yaml turns validation off) and a key that changes only when it
// does: the resolver drops its cache on a change, not on every revision.
// The node's own zones and the internal delegations below them are
// validated only under an anchor of their own (dnssec.Config.Internal).
func (rc *Recursor) dnssecFor(snap *node.Snapshot) (*dnssec.Config, string, error) {
	rev := snap.Revision
	if rev == nil || !rev.Policy.DNSSEC.Validation {
		return nil, "off", nil
	}
	anchors, err := dnssec.AnchorsOrRoot(rev.TrustAnchors)
	if err != nil {
		return nil, "", err
	}
	nta, err := dnssec.NewNegativeAnchors(rev.Policy.DNSSEC.NegativeTrustAnchors)
	if err != nil {
		return nil, "", err
	}
	var internal []string
	for _, z := range snap.Authority.Zones() {
		internal = append(internal, z.Origin())
	}
	for z := range snap.StubZones {
		internal = append(internal, dns.CanonicalName(z))
	}
	sort.Strings(internal)
	cfg := &dnssec.Config{Anchors: anchors, Negative: nta, Internal: internal}
	if rc.Config.DNSSEC != nil {
		cfg.OverrideDate = rc.Config.DNSSEC.OverrideDate
	}
	var key strings.Builder
	for _, z := range anchors.Zones() {
		for _, ds := range anchors.At(z) {
			key.WriteString(ds.String() + "\n")
		}
	}
	fmt.Fprintf(&key, "nta %s\ninternal %s\noverride %s\n", nta, strings.Join(internal, " "), cfg.OverrideDate)
	return cfg, key.String(), nil
}

// applyDNSSEC gives res the validation configuration of snap when it
// changed (rc.mu held).
func (rc *Recursor) applyDNSSEC(res *resolver.Resolver, snap *node.Snapshot) {
	cfg, key, err := rc.dnssecFor(snap)
	if err != nil {
		// gitops refuses such a revision; keep what we had.
		log.Errorf("revision %s: keeping the previous DNSSEC configuration: %v", revID(snap), err)
		return
	}
	if key == rc.dnssecKey {
		return
	}
	if err := res.SetDNSSEC(cfg); err != nil {
		log.Errorf("revision %s: keeping the previous DNSSEC configuration: %v", revID(snap), err)
		return
	}
	rc.dnssecKey = key
}

// isDNSSECType reports whether rr is a DNSSEC record a client that did not
// set DO must not get unless it asked for that type (RFC 4035 3.2.1).
func isDNSSECType(t uint16) bool {
	return t == dns.TypeRRSIG || t == dns.TypeNSEC || t == dns.TypeNSEC3
}

// stripDNSSEC removes the RRSIG, NSEC and NSEC3 records the resolver adds
// from a reply to a client without DO, keeping those of the asked type.
func stripDNSSEC(m *dns.Msg, qtype uint16) {
	keep := func(rrs []dns.RR) []dns.RR {
		out := rrs[:0]
		for _, rr := range rrs {
			if t := rr.Header().Rrtype; !isDNSSECType(t) || t == qtype {
				out = append(out, rr)
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	}
	m.Answer = keep(m.Answer)
	m.Ns = keep(m.Ns)
}

// bogusOf returns the validation failure behind err, if that is its cause.
func bogusOf(err error) (dnssec.Result, bool) {
	var ve *resolver.ValidationError
	if errors.As(err, &ve) {
		return ve.Result, true
	}
	return dnssec.Result{}, false
}

// bogusLog writes at most one log line a second about bogus answers, so a
// client hammering a broken zone cannot flood the log; the metric counts
// every one.
var bogusLog struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func logBogus(q dns.Question, res dnssec.Result) {
	bogusLog.mu.Lock()
	defer bogusLog.mu.Unlock()
	now := time.Now()
	if now.Sub(bogusLog.last) < time.Second {
		bogusLog.suppressed++
		return
	}
	more := ""
	if bogusLog.suppressed > 0 {
		more = fmt.Sprintf(" (%d more bogus answers in the last second)", bogusLog.suppressed)
	}
	bogusLog.last, bogusLog.suppressed = now, 0
	cause := ""
	if res.Cause != nil {
		cause = " (" + res.Cause.Error() + ")"
	}
	log.Warningf("DNSSEC bogus: %s %s: SERVFAIL, EDE %d: %s%s%s", q.Name, dns.TypeToString[q.Qtype], res.EDE, res.Why, cause, more)
}
