// Package zones owns authoritative data: it parses RFC 1035 master files into
// immutable, indexed zones, answers queries against them by RFC 1034 4.3.2,
// and lints them (the named-checkzone class of rules and more).
//
// Nothing here knows CoreDNS or git: input is bytes, output is miekg/dns
// records, so the package can be tested and benchmarked on its own.
package zones

import "fmt"

// Position is where something was written: a file path as the operator sees
// it (relative to the repository root), a 1-based line and a 1-based column.
type Position struct {
	File string
	Line int
	Col  int
}

func (p Position) String() string {
	switch {
	case p.Line == 0:
		return p.File
	case p.Col == 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Severity says whether a finding blocks a revision.
type Severity int

const (
	// SeverityError blocks a revision: dnsctl exits 1 and nodes refuse it.
	SeverityError Severity = iota
	// SeverityWarning is reported but never blocks.
	SeverityWarning
)

func (s Severity) String() string {
	if s == SeverityWarning {
		return "warning"
	}
	return "error"
}

// Finding is one problem found in a revision: where, how bad, which rule, what.
// It is shared by zone lint and by the config-repo validation in package
// cluster so that dnsctl and the nodes print exactly the same lines.
type Finding struct {
	Pos      Position
	Severity Severity
	Rule     string // stable, kebab-case rule id, e.g. "cname-and-other-data"
	Msg      string
}

// String renders the finding as `path:line:col: severity: rule-id: message`.
func (f Finding) String() string {
	return fmt.Sprintf("%s: %s: %s: %s", f.Pos, f.Severity, f.Rule, f.Msg)
}

// HasErrors reports whether any finding has SeverityError.
func HasErrors(fs []Finding) bool {
	for _, f := range fs {
		if f.Severity == SeverityError {
			return true
		}
	}
	return false
}
