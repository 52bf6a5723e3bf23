package zones

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/internal/dnsname"
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
	// record has its RDATA. (ParseAgainst runs other lines together than
	// Parse, so an entry must read the same alone as among others.)
	lineEnd = "\n\n"
)

// Rule ids reported by Parse.
const (
	RuleSyntax         = "zone-syntax"
	RuleIncludeRefused = "include-refused"
	RuleOutOfZone      = "out-of-zone"
	RuleTooManyRecords = "too-many-records"
	RuleClassNotIN     = "class-not-in"
	RuleNameNotASCII   = "name-not-ascii"
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
	z, fs, _ := parse(file, origin, data, nil)
	return z, fs
}

// parse is Parse, reusing prev's records where it can (prev may be nil);
// it also says how many record entries went through dns.ZoneParser.
func parse(file, origin string, data []byte, prev *Zone) (*Zone, []Finding, int) {
	p := &parser{file: file}
	origin = dnsname.Lower(dns.Fqdn(origin))
	if _, ok := dns.IsDomainName(origin); !ok {
		p.add(Position{File: file}, SeverityError, RuleSyntax, fmt.Sprintf("bad zone origin %q", origin))
		origin = "."
	}
	p.origin = origin
	p.curOrigin = origin
	if prev != nil && prev.origin == origin && len(prev.keys) > 0 {
		p.memo = newMemo(prev)
	}
	p.run(data)
	if p.stopped && p.memo != nil {
		// Which findings are kept once there are too many, and where
		// reading stops, depend on the order segments are parsed in: the
		// file is refused anyway, so give exactly what a scratch parse
		// gives.
		return parse(file, origin, data, nil)
	}
	var z *Zone
	if p.memo != nil {
		z = buildAgainst(prev, p.file, p.origin, p.records, p.pos, p.memo.changedNames(), p.memo.moved)
	} else {
		z = p.build()
	}
	z.keys = p.keys
	sortFindings(p.findings)
	return z, p.findings, p.parsed
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

	curOrigin string    // current $ORIGIN, absolute
	defTTL    int64     // current $TTL, -1 when none yet
	prevOwner ownerName // owner of the previous record entry
	lastTTL   int64     // TTL of the last record parsed, -1 when none

	seg     bytes.Buffer
	lines   []segLine
	tokmaps []tokMap
	texts   []int // index in lines of each line of seg's text

	records []dns.RR
	pos     []Position
	keys    []entryKey // parallel to records: what the next version can reuse
	keyBuf  []byte     // stateKey's

	// When parsing against a previous version (memo != nil): the
	// lastTTL the records pending in the segment leave behind, when
	// known without parsing them (see keyState).
	memo      *memo
	pendTTL   int64
	pendKnown bool
	probe     probe
	looked    bool // the entry read next was looked up already (reusePlain)
	parsed    int  // record entries given to dns.ZoneParser
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
	text               int // index of the line in the segment's text
	// reused is the previous version's record for this entry (then the
	// line has no text and key is its key).
	reused dns.RR
	from   int // reused's index in the previous version
	key    entryKey
	noTTL  int8 // see ttlAfter: 0 not known yet, 1 no TTL written, 2 written
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
	p.pendTTL, p.pendKnown = -1, true
	if n := bytes.Count(data, []byte{'\n'}) + 1; n <= MaxRecords {
		p.records = make([]dns.RR, 0, n)
		p.pos = make([]Position, 0, n)
		p.keys = make([]entryKey, 0, n)
	}
	s := newSplitter(data)
	reported := 0
	for !p.stopped {
		p.looked = false
		if p.memo != nil && p.reusePlain(s) {
			continue
		}
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
		owner = ownerName{first.text, p.curOrigin}
		rest = e.toks[1:]
	} else if owner.name == "" {
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

// ownerName is an owner as written and the $ORIGIN it was written under,
// made absolute only as it is appended to the normalised line or a key (no
// string made per entry).
type ownerName struct{ name, origin string }

func (o ownerName) appendTo(b []byte) []byte {
	switch {
	case o.name == "@":
		return append(b, o.origin...)
	case dns.IsFqdn(o.name):
		return append(b, o.name...)
	case o.origin == ".":
		return append(append(b, o.name...), '.')
	}
	return append(append(append(b, o.name...), '.'), o.origin...)
}

// absName makes an owner or $ORIGIN name absolute under the current origin.
func (p *parser) absName(name string) string {
	return string(ownerName{name, p.curOrigin}.appendTo(nil))
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
		p.addLine(e, ownerName{}, e.toks, true)
	default:
		p.syntax(d.line, d.col, fmt.Sprintf("unknown directive %s", d.text))
	}
}

func (p *parser) addDirective(e entry, text string) {
	start := p.seg.Len()
	p.seg.WriteString(text)
	p.seg.WriteString(lineEnd)
	p.texts = append(p.texts, len(p.lines))
	p.lines = append(p.lines, segLine{
		start: start, end: p.seg.Len(), directiv: true,
		pos:    Position{File: p.file, Line: e.line, Col: e.col},
		origin: p.curOrigin, defTTL: p.defTTL,
		tokStart: len(p.tokmaps), tokEnd: len(p.tokmaps),
		text: len(p.texts) - 1,
	})
}

// addLine appends a record entry (or a $GENERATE directive) as one
// normalised line: absolute owner, then the remaining tokens as written.
func (p *parser) addLine(e entry, owner ownerName, toks []token, generate bool) {
	if generate {
		// $GENERATE runs alone in its own segment, so that its records
		// (many from one line) are attributed to it.
		p.flush()
	}
	lookup := !generate && p.memo != nil && !p.looked && p.keyState()
	start := p.seg.Len()
	ts := len(p.tokmaps)
	if owner.name != "" {
		p.seg.Write(owner.appendTo(p.seg.AvailableBuffer()))
		p.tokmaps = append(p.tokmaps, tokMap{off: 0, line: e.line, col: e.col})
	}
	for i, t := range toks {
		if owner.name != "" || i > 0 {
			p.seg.WriteByte(' ')
		}
		p.tokmaps = append(p.tokmaps, tokMap{off: p.seg.Len() - start, line: t.line, col: t.col})
		p.seg.WriteString(t.text)
	}
	p.seg.WriteString(lineEnd)
	pos := Position{File: p.file, Line: e.line, Col: e.col}
	if lookup {
		if p.reuse(p.stateKey(p.seg.Bytes()[start:], p.curOrigin, p.defTTL, p.pendTTL), start, ts, pos) {
			return
		}
	}
	p.pendKnown = false
	p.parsed++
	p.texts = append(p.texts, len(p.lines))
	p.lines = append(p.lines, segLine{
		start: start, end: p.seg.Len(), record: true, generate: generate,
		pos:    pos,
		origin: p.curOrigin, defTTL: p.defTTL,
		tokStart: ts, tokEnd: len(p.tokmaps),
		text: len(p.texts) - 1,
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
	p.texts = p.texts[:0]
	p.pendTTL, p.pendKnown = p.lastTTL, true
}

// parseFrom runs one dns.ZoneParser over the segment from line index from;
// it returns the index where the next run must start (len(lines) when done).
// Records reused from the previous version have no text: they are added in
// file order between the records the run yields.
func (p *parser) parseFrom(from int) int {
	for from < len(p.lines) && p.lines[from].reused != nil {
		if p.addReused(&p.lines[from]); p.stopped {
			return len(p.lines)
		}
		from++
	}
	if !p.textRecordFrom(from) {
		// Nothing left for dns.ZoneParser: only directives (already
		// applied to the state) and reused records.
		p.addReusedUpTo(from, len(p.lines))
		return len(p.lines)
	}
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
	// Without $TTL a record's TTL may be the previous record's, which
	// dns.ZoneParser only knows from the records it read: a run then ends
	// before a reused record, and the next one starts with its TTL.
	stop := len(p.lines)
	if first.defTTL < 0 {
		for i := from + 1; i < len(p.lines); i++ {
			if p.lines[i].reused != nil {
				stop = i
				break
			}
		}
	}
	body := p.seg.Bytes()[first.start:]
	if stop < len(p.lines) {
		body = body[:p.lines[stop].start-first.start]
	}
	zp := dns.NewZoneParser(readerOf(prefix.String(), body), first.origin, "")
	if first.defTTL < 0 && p.lastTTL >= 0 {
		zp.SetDefaultTTL(uint32(p.lastTTL))
	}
	li := from // next line that may yield a record
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		for li < stop && (!p.lines[li].record || p.lines[li].reused != nil) {
			if p.addReused(&p.lines[li]); p.stopped {
				return len(p.lines)
			}
			li++
		}
		if li >= stop {
			break // cannot happen: one record per record line
		}
		l := &p.lines[li]
		var key entryKey
		if !l.generate {
			key = p.stateKey(p.seg.Bytes()[l.start:l.end], l.origin, l.defTTL, p.lastTTL)
		}
		p.addRecord(rr, l.pos, key, p.ttlAfter(l, rr), -1)
		if !l.generate {
			li++
		}
		if p.stopped {
			return len(p.lines)
		}
	}
	err := zp.Err()
	if err == nil {
		p.addReusedUpTo(li, stop)
		return stop
	}
	msg, eline, ecol := splitParseError(err)
	t := first.text + (eline-1-nPrefix)/len(lineEnd) // each text line and its empty line
	if eline-1-nPrefix < 0 || t < first.text {
		t = first.text
	}
	// The run read the text lines before stop only.
	for t >= len(p.texts) || t > first.text && p.texts[t] >= stop {
		t--
	}
	idx := p.texts[t]
	if p.addReusedUpTo(li, idx); p.stopped {
		return len(p.lines)
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

// textRecordFrom reports whether a record line with text (one that
// dns.ZoneParser must read) is at or after line index from.
func (p *parser) textRecordFrom(from int) bool {
	for _, l := range p.lines[from:] {
		if l.record && l.reused == nil {
			return true
		}
	}
	return false
}

// addReusedUpTo adds the reused records of lines [from, to).
func (p *parser) addReusedUpTo(from, to int) {
	for i := from; i < to && !p.stopped; i++ {
		p.addReused(&p.lines[i])
	}
}

func (p *parser) addReused(l *segLine) {
	if l.reused != nil {
		p.addRecord(l.reused, l.pos, l.key, p.reusedTTL(l.defTTL, l.reused), l.from)
	}
}

// reusedTTL is the TTL state after a reused record rr read under $TTL
// defTTL. Reused entries were read under a known TTL state (stateKey),
// which their TTL now is. Under $TTL the state is never read again: a $TTL
// holds to the end of the file, and entries without a TTL take it (RFC
// 2308 section 4), so the state stays as it is and the record, most likely
// in no cache, is not read.
func (p *parser) reusedTTL(defTTL int64, rr dns.RR) int64 {
	if defTTL >= 0 {
		return p.lastTTL
	}
	return int64(rr.Header().Ttl)
}

// ttlAfter is the TTL state dns.ZoneParser is in after it returned rr for
// line l: the TTL a record without one takes, -1 for none. It is the
// record's TTL (written, or taken from the state), except before any TTL
// is known: there dns.ZoneParser gives a record written with a class but
// no TTL the TTL 0 and stays without one, while an explicit 0 becomes the
// state. Runs start from this state, so it must be exact; the rare record
// of TTL 0 read without a state is read once more alone, with a default
// TTL of 1, to tell which it was.
func (p *parser) ttlAfter(l *segLine, rr dns.RR) int64 {
	ttl := int64(rr.Header().Ttl)
	if l.defTTL >= 0 || p.lastTTL >= 0 || ttl != 0 {
		return ttl
	}
	if l.noTTL == 0 {
		l.noTTL = 2
		zp := dns.NewZoneParser(readerOf("$ORIGIN "+l.origin+"\n", p.seg.Bytes()[l.start:l.end]), l.origin, "")
		zp.SetDefaultTTL(1)
		if rr, ok := zp.Next(); ok && rr.Header().Ttl == 1 {
			l.noTTL = 1
		}
	}
	if l.noTTL == 1 {
		return -1
	}
	return 0
}

// addRecord adds a record dns.ZoneParser returned or one reused from the
// previous version. key is what its entry is known by (zero when it cannot
// be reused); a record that gives a finding is never kept, so neither is
// its key. lastTTL is the TTL state after it (see ttlAfter); from is the
// previous version's index of a reused record, -1 for a parsed one.
func (p *parser) addRecord(rr dns.RR, pos Position, key entryKey, lastTTL int64, from int) {
	if len(p.records) >= MaxRecords {
		p.add(pos, SeverityError, RuleTooManyRecords, fmt.Sprintf("more than %d records in one zone", MaxRecords))
		p.stopped = true
		return
	}
	p.lastTTL = lastTTL
	// A reused record (from >= 0) was of class IN and in this zone (same
	// origin) when the previous version took it.
	if from < 0 {
		h := rr.Header()
		if h.Class != dns.ClassINET {
			p.add(pos, SeverityError, RuleClassNotIN,
				fmt.Sprintf("%s record of class %s: only class IN is served", h.Name, dns.ClassToString[h.Class]))
			return
		}
		if !inZone(dnsname.Lower(h.Name), p.origin) {
			p.add(pos, SeverityError, RuleOutOfZone, fmt.Sprintf("%s is not in zone %s", h.Name, p.origin))
			return
		}
		// Names are matched as octets, and these are not written as
		// octets: a query carries them \DDD-escaped (miekg's
		// presentation form), which the zone's lookup does not match to
		// the raw text, while lowering the name as Unicode (the Kelvin
		// sign to "k", É to é) changes the octets the fast path keys.
		// RFC 4343 section 3 folds ASCII only.
		if msg := NameNotASCII(h.Name); msg != "" {
			p.add(pos, SeverityError, RuleNameNotASCII, msg)
			return
		}
	}
	p.records = append(p.records, rr)
	p.pos = append(p.pos, pos)
	p.keys = append(p.keys, key)
	if p.memo != nil {
		p.memo.added(rr, len(p.records)-1, from)
	}
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

// ParseAgainst is Parse for a new version of a file whose previous version
// parsed into prev (nil: parse from scratch). The result is exactly what
// Parse returns (records, positions, findings, zone); records of entries
// that are unchanged, and read under the same state, are prev's (shared,
// never modified), so the cost grows with the change rather than with the
// file. prev must be a zone Parse or ParseAgainst returned for the same
// origin; otherwise nothing is reused.
func ParseAgainst(file, origin string, data []byte, prev *Zone) (*Zone, []Finding) {
	z, fs, _ := parse(file, origin, data, prev)
	return z, fs
}

// NameNotASCII is the finding of rule name-not-ascii for an owner name
// with an octet past US-ASCII, or "" for a name without one. The fallback
// file's owners are held to it too.
func NameNotASCII(name string) string {
	for i := 0; i < len(name); i++ {
		if name[i] >= 0x80 {
			return fmt.Sprintf("%q has octets outside US-ASCII (UTF-8 text?), and names are matched as octets: write its IDNA A-label (xn--...), or \\DDD escapes if you mean those octets", name)
		}
	}
	return ""
}
