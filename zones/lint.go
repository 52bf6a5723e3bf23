package zones

import (
	"fmt"

	"github.com/miekg/dns"
)

// LintPolicy carries the repo-wide bounds lint checks against.
// A zero MaxTTL means no upper bound.
type LintPolicy struct {
	MinTTL, MaxTTL uint32
}

// Lint checks a parsed zone and returns every finding, sorted by position.
// It never performs a DNS lookup.
func Lint(z *Zone, p LintPolicy) []Finding {
	var fs []Finding
	apexPos := Position{File: z.file}
	if soa := z.apex.get(dns.TypeSOA); soa == nil {
		fs = append(fs, Finding{Pos: apexPos, Severity: SeverityError, Rule: "soa-missing",
			Msg: fmt.Sprintf("zone %s has no SOA record at its apex", z.origin)})
	}
	sortFindings(fs)
	return fs
}
