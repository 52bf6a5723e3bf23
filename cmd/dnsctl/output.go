package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/gitops-dns/resolverd/cluster/model"
	"github.com/gitops-dns/resolverd/zones"
)

// checkReport is what dnsctl check found, in every output format.
type checkReport struct {
	Dir      string          `json:"dir"`
	Revision string          `json:"revision"`
	Base     string          `json:"base,omitempty"`
	Errors   int             `json:"errors"`
	Warnings int             `json:"warnings"`
	Findings []jsonFinding   `json:"findings"`
	raw      []zones.Finding `json:"-"`
}

type jsonFinding struct {
	File     string `json:"file"`
	Line     int    `json:"line,omitempty"`
	Col      int    `json:"col,omitempty"`
	Severity string `json:"severity"`
	Rule     string `json:"rule"`
	Message  string `json:"message"`
}

func newCheckReport(dir, rev, base string, fs []zones.Finding) *checkReport {
	r := &checkReport{Dir: dir, Revision: rev, Base: base, Findings: []jsonFinding{}, raw: fs}
	for _, f := range fs {
		if f.Severity == zones.SeverityError {
			r.Errors++
		} else {
			r.Warnings++
		}
		r.Findings = append(r.Findings, jsonFinding{File: f.Pos.File, Line: f.Pos.Line, Col: f.Pos.Col, Severity: f.Severity.String(), Rule: f.Rule, Message: f.Msg})
	}
	return r
}

func plural(n int, one string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %ss", n, one)
}

func (r *checkReport) summary() string {
	where := r.Dir
	if where == "" {
		where = "."
	}
	against := "without a base revision"
	if r.Base != "" {
		against = "against " + model.ShortID(r.Base)
	}
	return fmt.Sprintf("dnsctl check: %s, %s in %s at %s (%s)", plural(r.Errors, "error"), plural(r.Warnings, "warning"), where, model.ShortID(r.Revision), against)
}

// printFindings writes the report in format human, json or github.
func (r *checkReport) print(w io.Writer, format string) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case "github":
		for _, f := range r.raw {
			fmt.Fprintln(w, githubAnnotation(f))
		}
		_, err := fmt.Fprintln(w, r.summary())
		return err
	default:
		for _, f := range r.raw {
			fmt.Fprintln(w, f.String())
		}
		_, err := fmt.Fprintln(w, r.summary())
		return err
	}
}

// githubAnnotation renders a finding as a GitHub Actions workflow command:
// ::error file=F,line=L,col=C,title=RULE::MESSAGE
func githubAnnotation(f zones.Finding) string {
	level := "error"
	if f.Severity == zones.SeverityWarning {
		level = "warning"
	}
	props := []string{"file=" + escapeProperty(f.Pos.File)}
	if f.Pos.Line > 0 {
		props = append(props, fmt.Sprintf("line=%d", f.Pos.Line))
		if f.Pos.Col > 0 {
			props = append(props, fmt.Sprintf("col=%d", f.Pos.Col))
		}
	}
	props = append(props, "title="+escapeProperty(f.Rule))
	return fmt.Sprintf("::%s %s::%s", level, strings.Join(props, ","), escapeData(f.Rule+": "+f.Msg))
}

func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

func escapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}
