package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/gitops-dns/resolverd/zones"
	"go.yaml.in/yaml/v3"
)

// maxYAMLSize bounds every YAML file of the config repo (policy, clusters,
// probes): they are small hand-written files; anything larger is a mistake.
const maxYAMLSize = 1 << 20

// ydec decodes one YAML file strictly, by walking its yaml.Node tree, so
// that every problem is reported with the line and column it was written at
// and all problems are reported, not only the first.
type ydec struct {
	file     string
	findings []zones.Finding
	// visits counts the mapping entries and list items walked: aliases
	// can make a small file a huge tree, so the walk has a budget.
	visits    int
	exhausted bool
}

// maxVisits bounds the walk of one YAML file (far above any real file).
const maxVisits = 200_000

// spend consumes one visit; false means the budget is gone (reported once).
func (d *ydec) spend(n *yaml.Node) bool {
	d.visits++
	if d.visits <= maxVisits {
		return true
	}
	if !d.exhausted {
		d.exhausted = true
		d.errorf(n, ruleYAMLSyntax, "document too large once aliases are expanded (more than %d entries)", maxVisits)
	}
	return false
}

// Rule ids of the YAML layer.
const (
	ruleYAMLSyntax  = "yaml-syntax"
	ruleYAMLUnknown = "yaml-unknown-field"
	ruleYAMLType    = "yaml-type"
	ruleYAMLMissing = "yaml-missing-field"
	ruleYAMLDup     = "yaml-duplicate-field"
)

func (d *ydec) pos(n *yaml.Node) zones.Position {
	if n == nil {
		return zones.Position{File: d.file}
	}
	return zones.Position{File: d.file, Line: n.Line, Col: n.Column}
}

func (d *ydec) errorf(n *yaml.Node, rule, format string, args ...any) {
	d.findings = append(d.findings, zones.Finding{Pos: d.pos(n), Severity: zones.SeverityError, Rule: rule, Msg: fmt.Sprintf(format, args...)})
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parse returns the top-level mapping node of data, or nil after a finding.
// An empty document yields an empty mapping.
func (d *ydec) parse(data []byte) *yaml.Node {
	if len(data) > maxYAMLSize {
		d.errorf(nil, ruleYAMLSyntax, "file is %d bytes, more than the %d allowed", len(data), maxYAMLSize)
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: 1, Column: 1}
		}
		d.syntaxError(err)
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		d.errorf(&extra, ruleYAMLSyntax, "more than one YAML document in the file")
		return nil
	} else if !errors.Is(err, io.EOF) {
		d.syntaxError(err)
		return nil
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: 1, Column: 1}
		}
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: root.Line, Column: root.Column}
	}
	if root.Kind != yaml.MappingNode {
		d.errorf(root, ruleYAMLType, "the file must hold a mapping (key: value lines), not a %s", kindName(root))
		return nil
	}
	return root
}

func (d *ydec) syntaxError(err error) {
	msg := err.Error()
	line := 0
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	d.findings = append(d.findings, zones.Finding{
		Pos:      zones.Position{File: d.file, Line: max(line, 1), Col: 1},
		Severity: zones.SeverityError, Rule: ruleYAMLSyntax, Msg: msg,
	})
}

func kindName(n *yaml.Node) string {
	n = resolveAlias(n)
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "null"
		case "!!int":
			return "number"
		case "!!float":
			return "number"
		case "!!bool":
			return "boolean"
		}
		return "string"
	}
	return "value"
}

// resolveAlias follows YAML aliases (*name) to the node they name, a bounded
// number of times.
func resolveAlias(n *yaml.Node) *yaml.Node {
	for i := 0; i < 16 && n != nil && n.Kind == yaml.AliasNode; i++ {
		n = n.Alias
	}
	return n
}

// field describes one allowed key of a mapping.
type field struct {
	required bool
	fn       func(v *yaml.Node)
}

// mapping checks that n is a mapping with only the given keys, each at most
// once, and calls each key's function with its value. Missing required keys
// are reported at the mapping's own position.
func (d *ydec) mapping(n *yaml.Node, what string, fields map[string]field) {
	n = resolveAlias(n)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		// "key:" with nothing after it: an empty mapping.
		n = &yaml.Node{Kind: yaml.MappingNode, Line: n.Line, Column: n.Column}
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, ruleYAMLType, "%s must be a mapping, not a %s", what, kindName(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !d.spend(k) {
			return
		}
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, ruleYAMLType, "%s: keys must be plain strings", what)
			continue
		}
		if k.Value == "<<" {
			d.errorf(k, ruleYAMLUnknown, "%s: merge keys (<<) are not supported", what)
			continue
		}
		f, ok := fields[k.Value]
		if !ok {
			d.errorf(k, ruleYAMLUnknown, "unknown field %q in %s%s", k.Value, what, suggest(k.Value, fields))
			continue
		}
		if seen[k.Value] {
			d.errorf(k, ruleYAMLDup, "field %q given twice in %s", k.Value, what)
			continue
		}
		seen[k.Value] = true
		if f.fn != nil {
			f.fn(resolveAlias(v))
		}
	}
	var missing []string
	for name, f := range fields {
		if f.required && !seen[name] {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	for _, name := range missing {
		d.errorf(n, ruleYAMLMissing, "%s: required field %q is missing", what, name)
	}
}

// suggest names the closest allowed key when the given one looks misspelt.
func suggest(got string, fields map[string]field) string {
	best, bestD := "", 3
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if dd := editDistance(strings.ToLower(got), name); dd < bestD {
			best, bestD = name, dd
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return fmt.Sprintf(" (allowed: %s)", strings.Join(names, ", "))
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// str decodes a string scalar. Numbers and booleans are refused: an address
// or a name written as 1.5 or yes is a mistake, not a string.
func (d *ydec) str(n *yaml.Node, what string) (string, bool) {
	n = resolveAlias(n)
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!str" && n.Tag != "") {
		d.errorf(n, ruleYAMLType, "%s must be a string, not a %s", what, kindName(n))
		return "", false
	}
	return n.Value, true
}

// scalarText decodes a scalar that may be written unquoted as a number too
// (a port-less IPv4 address is never a valid YAML number, but "53" is).
func (d *ydec) scalarText(n *yaml.Node, what string) (string, bool) {
	n = resolveAlias(n)
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" || n.Tag == "!!bool" {
		d.errorf(n, ruleYAMLType, "%s must be a string, not a %s", what, kindName(n))
		return "", false
	}
	return n.Value, true
}

func (d *ydec) boolean(n *yaml.Node, what string) (bool, bool) {
	n = resolveAlias(n)
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		d.errorf(n, ruleYAMLType, "%s must be true or false, not a %s", what, kindName(n))
		return false, false
	}
	var b bool
	if err := n.Decode(&b); err != nil {
		d.errorf(n, ruleYAMLType, "%s: %v", what, err)
		return false, false
	}
	return b, true
}

// uint decodes a non-negative integer no larger than maxV.
func (d *ydec) uint(n *yaml.Node, what string, maxV uint64) (uint64, bool) {
	n = resolveAlias(n)
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		d.errorf(n, ruleYAMLType, "%s must be a whole number, not a %s", what, kindName(n))
		return 0, false
	}
	var v int64
	if err := n.Decode(&v); err != nil {
		d.errorf(n, ruleYAMLType, "%s: %v", what, err)
		return 0, false
	}
	if v < 0 || uint64(v) > maxV {
		d.errorf(n, ruleYAMLType, "%s must be between 0 and %d, not %d", what, maxV, v)
		return 0, false
	}
	return uint64(v), true
}

// seq calls fn for each item of a list.
func (d *ydec) seq(n *yaml.Node, what string, fn func(i int, item *yaml.Node)) {
	n = resolveAlias(n)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, ruleYAMLType, "%s must be a list, not a %s", what, kindName(n))
		return
	}
	for i, item := range n.Content {
		if !d.spend(item) {
			return
		}
		fn(i, resolveAlias(item))
	}
}
