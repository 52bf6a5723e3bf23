package probe

import (
	"fmt"
	"strings"

	"github.com/gitops-dns/resolverd/cluster/model"
	"github.com/miekg/dns"
)

// Match says whether the response r satisfies the probe p: r has the
// probe's rcode, and every expected rdata of p appears in r's answer
// section (compared as NormRdata: case, surrounding quotes and a final dot
// do not matter; other answers may be there too). It returns nil on a
// match, otherwise an error saying what r answered and what it lacks.
//
// It is the one definition of a passing probe: nodes apply it to
// themselves after a sync (node/syncer) and `dnsctl verify` applies it to
// every node of a cluster (staging). A nil r never matches.
func Match(p model.Probe, r *dns.Msg) error {
	if r == nil {
		return fmt.Errorf("no answer")
	}
	if r.Rcode != p.Rcode {
		return fmt.Errorf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[p.Rcode])
	}
	var missing []string
	for _, i := range Missing(p.Expect, r.Answer) {
		missing = append(missing, p.Expect[i])
	}
	if len(missing) > 0 {
		return fmt.Errorf("answer %s lacks %s", ResponseText(r), strings.Join(missing, ", "))
	}
	return nil
}

// Missing returns the indexes of the expected rdata that no record of
// answer has (compared as NormRdata). Match judges a node's response
// with it, and cluster.Check a probe against the zone, so that Check refuses
// exactly the probes the nodes would fail.
func Missing(expect []string, answer []dns.RR) []int {
	have := make(map[string]bool, len(answer))
	for _, rr := range answer {
		have[NormRdata(RdataText(rr))] = true
	}
	var missing []int
	for i, e := range expect {
		if !have[NormRdata(e)] {
			missing = append(missing, i)
		}
	}
	return missing
}

// NormRdata is the form in which probe expectations and answered rdata are
// compared: lower case, without surrounding blanks and quotes and without
// a final dot.
func NormRdata(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.Trim(s, `"`)
	return strings.TrimSuffix(s, ".")
}

// RdataText is the presentation form of a record's data (the record's
// text without its header).
func RdataText(rr dns.RR) string {
	return strings.TrimPrefix(rr.String(), rr.Header().String())
}

// ResponseText renders what a response says, for reports and errors: the
// rcode, then each answer record's type and data, then the Extended DNS
// Error text if any ("NOERROR A 198.18.5.10 (EDE: ...)"); "no answer" for
// a nil response.
func ResponseText(r *dns.Msg) string {
	if r == nil {
		return "no answer"
	}
	parts := []string{dns.RcodeToString[r.Rcode]}
	for _, rr := range r.Answer {
		parts = append(parts, dns.TypeToString[rr.Header().Rrtype]+" "+RdataText(rr))
	}
	if e := EDEText(r); e != "" {
		parts = append(parts, "(EDE: "+e+")")
	}
	return strings.Join(parts, " ")
}

// EDEText is the extra text of the first Extended DNS Error (RFC 8914) of
// r's OPT record, or "" when there is none.
func EDEText(r *dns.Msg) string {
	opt := r.IsEdns0()
	if opt == nil {
		return ""
	}
	for _, o := range opt.Option {
		if e, ok := o.(*dns.EDNS0_EDE); ok {
			return e.ExtraText
		}
	}
	return ""
}
