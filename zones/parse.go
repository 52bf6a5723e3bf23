package zones

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// Limits on untrusted input.
const (
	// MaxRecords is the largest number of records one zone file may hold.
	MaxRecords = 10_000_000
	// maxSyntaxFindings bounds the syntax findings reported for one file.
	maxSyntaxFindings = 1000
	// segmentLines is how many entries are parsed per dns.ZoneParser run,
	// to keep the normalised text small.
	segmentLines = 4096
	// lineEnd ends each normalised line: an empty line follows each
	// entry. dns.ZoneParser's readers of record data skip one token
	// between fields without looking at it, so an entry missing a field
	// read on into the next entry's tokens (an SOA could take its serial
	// from the next line), and a type with no data was a dynamic update
	// record (RFC 2136, empty RDATA) when nothing followed it. With the
	// empty line the skipped token is the first newline and the field read
	// is the second: an error on the entry itself, wherever the entry is
	// in a run. RFC 1035 5.1: an entry is one logical line, and every
	// record has its RDATA.
	lineEnd = "\n\n"
)

// Rule ids reported by Parse.
const (
	RuleSyntax         = "zone-syntax"
	RuleIncludeRefused = "include-refused"
	RuleOutOfZone      = "out-of-zone"
	RuleTooManyRecords = "too-many-records"
	RuleClassNotIN     = "class-not-in"
)

// Parse reads an RFC 1035 master file. file is the path the operator sees
// (used in positions), origin the zone's apex (made absolute if it is not).
//
// $ORIGIN and $TTL are supported; $INCLUDE is refused (a revision is exactly
// what git holds); $GENERATE is supported and every record it generates is
// positioned at the directive.
//
// Parse always returns a zone, built from the records that parsed and lie
// inside the origin, so that lint can report everything at once; callers
// must refuse the zone when HasErrors(findings). Records outside the origin
// are reported as out-of-zone and left out of the zone.
func Parse(file, origin string, data []byte) (*Zone, []Finding) {
	p := &parser{file: file}
	origin = strings.ToLower(dns.Fqdn(origin))
	if _, ok := dns.IsDomainName(origin); !ok {
		p.add(Position{File: file}, SeverityError, RuleSyntax, fmt.Sprintf("bad zone origin %q", origin))
		origin = "."
	}
	p.origin = origin
	p.curOrigin = origin
	p.run(data)
	z := p.build()
	sortFindings(p.findings)
	return z, p.findings
}

// parser turns entries into records through miekg/dns, one segment at a
// time: a segment is a run of normalised lines (one entry per line) fed to
// one dns.ZoneParser; a syntax error ends a run, which restarts after the
// bad line with the state ($ORIGIN, $TTL) that line was written under.
type parser struct {
	file     string
	origin   string // the zone apex, lower case
	findings []Finding
	nSyntax  int
	stopped  bool // too many findings or records: stop reading

	curOrigin string // current $ORIGIN, absolute
	defTTL    int64  // current $TTL, -1 when none yet
	prevOwner string // owner of the previous record entry (absolute)
	lastTTL   int64  // TTL of the last record parsed, -1 when none

	seg     bytes.Buffer
	lines   []segLine
	tokmaps []tokMap

	records []dns.RR
	pos     []Position
}

// segLine is one normalised line of the current segment.
type segLine struct {
	start, end         int // byte range in seg
	record             bool
	pos                Position // the entry's start
	origin             string   // $ORIGIN the line was written under
	defTTL             int64    // $TTL in effect before the line, -1 when none
	tokStart, tokEnd   int      // range in tokmaps
	generate, directiv bool
}

// tokMap says where a token of a normalised line came from.
type tokMap struct {
	off       int // byte offset in the normalised line
	line, col int
}

func (p *parser) add(pos Position, sev Severity, rule, msg string) {
	p.findings = append(p.findings, Finding{Pos: pos, Severity: sev, Rule: rule, Msg: msg})
}

func (p *parser) syntax(line, col int, msg string) {
	if p.nSyntax >= maxSyntaxFindings {
		return
	}
	p.nSyntax++
	pos := Position{File: p.file, Line: line, Col: col}
	if p.nSyntax == maxSyntaxFindings {
		p.add(pos, SeverityError, RuleSyntax, "too many errors; giving up on this file")
		p.stopped = true
		return
	}
	p.add(pos, SeverityError, RuleSyntax, msg)
}

func (p *parser) run(data []byte) {
	p.defTTL = -1
	p.lastTTL = -1
	if n := bytes.Count(data, []byte{'\n'}) + 1; n <= MaxRecords {
		p.records = make([]dns.RR, 0, n)
		p.pos = make([]Position, 0, n)
	}
	s := newSplitter(data)
	reported := 0
	for !p.stopped {
		e, ok := s.next()
		for ; reported < len(s.errs); reported++ {
			le := s.errs[reported]
			p.syntax(le.line, le.col, le.msg)
		}
		if !ok {
			break
		}
		if e.bad {
			continue
		}
		p.entry(e)
	}
	p.flush()
}

func (p *parser) entry(e entry) {
	first := e.toks[0]
	if !e.blankOwner && strings.HasPrefix(first.text, "$") {
		p.directive(e)
		return
	}
	owner := p.prevOwner
	rest := e.toks
	if !e.blankOwner {
		owner = p.absName(first.text)
		rest = e.toks[1:]
	} else if owner == "" {
		p.syntax(e.line, e.col, "record without an owner name (the first record must name its owner)")
		return
	}
	if len(rest) == 0 {
		p.syntax(first.line, first.col+len(first.text), "record without a type and data")
		return
	}
	p.prevOwner = owner
	p.addLine(e, owner, rest, false)
}

// absName makes an owner or $ORIGIN name absolute under the current origin.
func (p *parser) absName(name string) string {
	switch {
	case name == "@":
		return p.curOrigin
	case dns.IsFqdn(name):
		return name
	case p.curOrigin == ".":
		return name + "."
	}
	return name + "." + p.curOrigin
}

func (p *parser) directive(e entry) {
	d := e.toks[0]
	args := e.toks[1:]
	switch strings.ToUpper(d.text) {
	case "$ORIGIN":
		if len(args) != 1 {
			p.syntax(d.line, d.col, "$ORIGIN takes exactly one domain name")
			return
		}
		name := p.absName(args[0].text)
		if _, ok := dns.IsDomainName(name); !ok {
			p.syntax(args[0].line, args[0].col, fmt.Sprintf("bad $ORIGIN name %q", args[0].text))
			return
		}
		p.curOrigin = name
		p.addDirective(e, "$ORIGIN "+name)
	case "$TTL":
		if len(args) != 1 {
			p.syntax(d.line, d.col, "$TTL takes exactly one TTL value")
			return
		}
		ttl, ok := ParseTTL(args[0].text)
		if !ok {
			p.syntax(args[0].line, args[0].col, fmt.Sprintf("bad $TTL value %q", args[0].text))
			return
		}
		p.defTTL = int64(ttl)
		p.addDirective(e, "$TTL "+strconv.FormatUint(uint64(ttl), 10))
	case "$INCLUDE":
		p.add(Position{File: p.file, Line: d.line, Col: d.col}, SeverityError, RuleIncludeRefused,
			"$INCLUDE is refused: a zone is exactly the file git holds; put the records in this file")
	case "$GENERATE":
		if len(args) < 3 {
			p.syntax(d.line, d.col, "$GENERATE takes a range, an owner, a type and data")
			return
		}
		p.addLine(e, "", e.toks, true)
	default:
		p.syntax(d.line, d.col, fmt.Sprintf("unknown directive %s", d.text))
	}
}

func (p *parser) addDirective(e entry, text string) {
	start := p.seg.Len()
	p.seg.WriteString(text)
	p.seg.WriteString(lineEnd)
	p.lines = append(p.lines, segLine{
		start: start, end: p.seg.Len(), directiv: true,
		pos:    Position{File: p.file, Line: e.line, Col: e.col},
		origin: p.curOrigin, defTTL: p.defTTL,
		tokStart: len(p.tokmaps), tokEnd: len(p.tokmaps),
	})
}

// addLine appends a record entry (or a $GENERATE directive) as one
// normalised line: absolute owner, then the remaining tokens as written.
func (p *parser) addLine(e entry, owner string, toks []token, generate bool) {
	if generate {
		// $GENERATE runs alone in its own segment, so that its records
		// (many from one line) are attributed to it.
		p.flush()
	}
	start := p.seg.Len()
	ts := len(p.tokmaps)
	if owner != "" {
		p.seg.WriteString(owner)
		p.tokmaps = append(p.tokmaps, tokMap{off: 0, line: e.line, col: e.col})
	}
	for i, t := range toks {
		if owner != "" || i > 0 {
			p.seg.WriteByte(' ')
		}
		p.tokmaps = append(p.tokmaps, tokMap{off: p.seg.Len() - start, line: t.line, col: t.col})
		p.seg.WriteString(t.text)
	}
	p.seg.WriteString(lineEnd)
	p.lines = append(p.lines, segLine{
		start: start, end: p.seg.Len(), record: true, generate: generate,
		pos:    Position{File: p.file, Line: e.line, Col: e.col},
		origin: p.curOrigin, defTTL: p.defTTL,
		tokStart: ts, tokEnd: len(p.tokmaps),
	})
	if generate || len(p.lines) >= segmentLines {
		p.flush()
	}
}

// flush parses the current segment and resets it.
func (p *parser) flush() {
	from := 0
	for from < len(p.lines) && !p.stopped {
		from = p.parseFrom(from)
	}
	p.seg.Reset()
	p.lines = p.lines[:0]
	p.tokmaps = p.tokmaps[:0]
}

// parseFrom runs one dns.ZoneParser over the segment from line index from;
// it returns the index where the next run must start (len(lines) when done).
func (p *parser) parseFrom(from int) int {
	first := p.lines[from]
	var prefix strings.Builder
	prefix.WriteString("$ORIGIN ")
	prefix.WriteString(first.origin)
	prefix.WriteByte('\n')
	nPrefix := 1
	if first.defTTL >= 0 {
		prefix.WriteString("$TTL " + strconv.FormatInt(first.defTTL, 10) + "\n")
		nPrefix++
	}
	body := p.seg.Bytes()[first.start:]
	zp := dns.NewZoneParser(readerOf(prefix.String(), body), first.origin, "")
	if first.defTTL < 0 && p.lastTTL >= 0 {
		zp.SetDefaultTTL(uint32(p.lastTTL))
	}
	li := from // next line that may yield a record
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		for li < len(p.lines) && !p.lines[li].record {
			li++
		}
		if li >= len(p.lines) {
			break // cannot happen: one record per record line
		}
		p.addRecord(rr, p.lines[li].pos)
		if !p.lines[li].generate {
			li++
		}
		if p.stopped {
			return len(p.lines)
		}
	}
	err := zp.Err()
	if err == nil {
		return len(p.lines)
	}
	msg, eline, ecol := splitParseError(err)
	idx := from + (eline-1-nPrefix)/len(lineEnd) // each line and its empty line
	if eline-1-nPrefix < 0 || idx < from {
		idx = from
	}
	if idx >= len(p.lines) {
		idx = len(p.lines) - 1
	}
	l := p.lines[idx]
	line, col := l.pos.Line, l.pos.Col
	// The token whose normalised offset covers the error column.
	// (A $GENERATE error is in generated text: report the directive.)
	off := ecol - 1
	for _, tm := range p.tokmaps[l.tokStart:l.tokEnd] {
		if tm.off <= off && !l.generate {
			line, col = tm.line, tm.col
		}
	}
	p.syntax(line, col, msg)
	return idx + 1
}

func (p *parser) addRecord(rr dns.RR, pos Position) {
	if len(p.records) >= MaxRecords {
		p.add(pos, SeverityError, RuleTooManyRecords, fmt.Sprintf("more than %d records in one zone", MaxRecords))
		p.stopped = true
		return
	}
	h := rr.Header()
	p.lastTTL = int64(h.Ttl)
	if h.Class != dns.ClassINET {
		p.add(pos, SeverityError, RuleClassNotIN,
			fmt.Sprintf("%s record of class %s: only class IN is served", h.Name, dns.ClassToString[h.Class]))
		return
	}
	if !inZone(strings.ToLower(h.Name), p.origin) {
		p.add(pos, SeverityError, RuleOutOfZone, fmt.Sprintf("%s is not in zone %s", h.Name, p.origin))
		return
	}
	p.records = append(p.records, rr)
	p.pos = append(p.pos, pos)
}

// splitParseError extracts the message and the line:col from a
// dns.ParseError (which keeps them unexported).
func splitParseError(err error) (msg string, line, col int) {
	var pe *dns.ParseError
	if !errors.As(err, &pe) {
		return err.Error(), 0, 0
	}
	s := pe.Error()
	i := strings.LastIndex(s, " at line: ")
	if i < 0 {
		return s, 0, 0
	}
	lc := s[i+len(" at line: "):]
	msg = strings.TrimPrefix(s[:i], "dns: ")
	if j := strings.IndexByte(lc, ':'); j >= 0 {
		line, _ = strconv.Atoi(lc[:j])
		col, _ = strconv.Atoi(lc[j+1:])
	}
	return msg, line, col
}

// ParseTTL reads a TTL as a number of seconds or in BIND units
// (1w2d3h4m5s, units in either case), as $TTL and record TTLs are written
// in zone files. ok is false for anything else and for a total beyond
// 2^32-1 seconds.
func ParseTTL(s string) (ttl uint32, ok bool) {
	if s == "" {
		return 0, false
	}
	var total, cur uint64
	digits := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= '0' && c <= '9' {
			cur = cur*10 + uint64(c-'0')
			digits = true
			if cur > 1<<32 {
				return 0, false
			}
			continue
		}
		if !digits {
			return 0, false
		}
		var mul uint64
		switch c {
		case 's', 'S':
			mul = 1
		case 'm', 'M':
			mul = 60
		case 'h', 'H':
			mul = 3600
		case 'd', 'D':
			mul = 86400
		case 'w', 'W':
			mul = 604800
		default:
			return 0, false
		}
		total += cur * mul
		cur = 0
		digits = false
		if total > 1<<32-1 {
			return 0, false
		}
	}
	total += cur
	if total > 1<<32-1 {
		return 0, false
	}
	return uint32(total), true
}

// inZone reports whether the lower-case absolute name is at or below the
// lower-case absolute origin.
func inZone(name, origin string) bool {
	if origin == "." || name == origin {
		return true
	}
	return len(name) > len(origin) && name[len(name)-len(origin)-1] == '.' &&
		name[len(name)-len(origin):] == origin
}

func sortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i].Pos, fs[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}
