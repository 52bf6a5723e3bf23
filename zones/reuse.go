package zones

import (
	"encoding/binary"
	"hash/maphash"

	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/internal/dnsname"
)

// Parsing against the previous version of a file (issue 21): a revision
// usually changes a few entries of a large zone file, so an entry whose
// record the previous version already holds is not given to
// dns.ZoneParser again.
//
// What a record entry yields depends on its text and on the state it is
// read under (RFC 1035 section 5.1): the owner (written, or "the last
// stated owner" when the line starts with a blank), $ORIGIN for relative
// names, and the TTL when none is written: $TTL when one was given (RFC
// 2308 section 4), else "the last explicitly stated value", which is the
// TTL of the previous record. The normalised line already holds the
// absolute owner, so an entry is known by a hash of that line, the current
// $ORIGIN, $TTL and, when there is no $TTL, the previous record's TTL
// (entryKey). The zone keeps the key of each record (Zone.keys), 16 bytes
// a record, not the text.
//
// An entry is reused only when its key equals the key of a previous record:
// same text, same state, so dns.ZoneParser would return the same record.
// Only entries that gave exactly one record and no finding have a key
// ($GENERATE, syntax errors, out-of-zone and non-IN records are parsed
// again every time), so a reused entry adds no finding, and it still goes
// through addRecord (the record limit, the TTL state) at its place in file
// order. The class is not state: dns.ZoneParser takes IN when none is
// written.

// entryKey is a 128-bit keyed hash of an entry and its state; zero means
// "not reusable". The seeds are random per process, so nobody can write
// two entries that collide, and 128 bits make an accidental collision
// negligible (about 2^-100 for a million records).
type entryKey struct{ a, b uint64 }

var keySeedA, keySeedB = maphash.MakeSeed(), maphash.MakeSeed()

// stateKey is the key of a normalised record line read under $ORIGIN
// origin, $TTL defTTL (-1: none) and, without $TTL, after a record of TTL
// lastTTL (-1: none yet). Entries read before any TTL is known are not
// reused (zero key): what state they leave behind depends on whether they
// wrote a TTL (see ttlAfter).
func (p *parser) stateKey(line []byte, origin string, defTTL, lastTTL int64) entryKey {
	b, ok := p.keyHead(origin, defTTL, lastTTL)
	if !ok {
		return entryKey{}
	}
	return p.keyOf(append(b, line...))
}

// keyHead starts what stateKey hashes, in p.keyBuf: the state, to which
// the line is appended (the key is the hash of both in one piece). ok is
// false when the entry has no key.
func (p *parser) keyHead(origin string, defTTL, lastTTL int64) (b []byte, ok bool) {
	if defTTL >= 0 {
		lastTTL = 0 // not read: a missing TTL is $TTL's
	} else if lastTTL < 0 {
		return nil, false
	}
	b = binary.LittleEndian.AppendUint64(p.keyBuf[:0], uint64(defTTL))
	b = binary.LittleEndian.AppendUint64(b, uint64(lastTTL))
	b = append(b, origin...)
	return append(b, 0), true
}

// keyOf is the key of b, a keyHead and a line.
func (p *parser) keyOf(b []byte) entryKey {
	p.keyBuf = b
	k := entryKey{maphash.Bytes(keySeedA, b), maphash.Bytes(keySeedB, b)}
	k.a |= 1 // never zero
	return k
}

// memo finds the previous version's records by key. Most edits are local,
// so the previous records are followed in order with a cursor and a short
// window; only after several misses (a block moved or deleted) is an index
// of every key built.
type memo struct {
	records []dns.RR
	keys    []entryKey
	used    []bool // each previous record is reused at most once
	cursor  int
	misses  int
	byKey   map[entryKey]int32 // first candidate for a key
	next    []int32            // next candidate with the same key, -1 at the end

	// What changed, for buildAgainst: owner names (lower case) of the
	// records parsed, reused out of order, or not reused; and the new
	// indexes of the records parsed or reused out of order, increasing.
	changed map[string]struct{}
	moved   []int32
	lastOld int // previous index of the last record reused in order
}

const (
	reusedQueue    = 256 // segment lines before a reused record is added at once
	memoWindow     = 16  // previous records looked at after the cursor
	memoIndexAfter = 8   // window misses before every key is indexed
)

func newMemo(prev *Zone) *memo {
	return &memo{records: prev.records, keys: prev.keys, used: make([]bool, len(prev.keys)),
		changed: map[string]struct{}{}, lastOld: -1}
}

// added notes record i of the new version: parsed (from < 0) or the
// previous version's record from. An owner name none of whose records
// changed, nor moved against one another, keeps its RRsets: the records
// reused in order (increasing previous indexes) keep their relative order.
func (m *memo) added(rr dns.RR, i, from int) {
	if from >= 0 && from > m.lastOld {
		m.lastOld = from
		return
	}
	m.changed[dnsname.Lower(rr.Header().Name)] = struct{}{}
	m.moved = append(m.moved, int32(i))
}

// changedNames completes the changed names with those of the previous
// records not reused (removed or changed).
func (m *memo) changedNames() map[string]struct{} {
	for i, u := range m.used {
		if !u {
			m.changed[dnsname.Lower(m.records[i].Header().Name)] = struct{}{}
		}
	}
	return m.changed
}

// find returns the index of an unused previous record with key k, and marks
// it used, or -1.
func (m *memo) find(k entryKey) int {
	for c := m.cursor; c < len(m.keys) && c < m.cursor+memoWindow; c++ {
		if m.keys[c] == k && !m.used[c] {
			return m.take(c)
		}
	}
	if m.byKey == nil {
		if m.misses++; m.misses < memoIndexAfter {
			return -1
		}
		m.index()
	}
	i, ok := m.byKey[k]
	if !ok {
		return -1
	}
	for i >= 0 && m.used[i] {
		i = m.next[i]
	}
	if i < 0 {
		delete(m.byKey, k)
		return -1
	}
	m.byKey[k] = i
	return m.take(int(i))
}

func (m *memo) take(i int) int {
	m.used[i] = true
	m.cursor = i + 1
	return i
}

func (m *memo) index() {
	m.byKey = make(map[entryKey]int32, len(m.keys))
	m.next = make([]int32, len(m.keys))
	for i := len(m.keys) - 1; i >= 0; i-- {
		k := m.keys[i]
		if k == (entryKey{}) {
			continue
		}
		if j, ok := m.byKey[k]; ok {
			m.next[i] = j
		} else {
			m.next[i] = -1
		}
		m.byKey[k] = int32(i)
	}
}

// probe paces lookups when there is no $TTL and the TTL the pending lines
// leave behind is unknown until they are parsed: each lookup then costs a
// dns.ZoneParser run, so after a miss the next lookup waits for twice as
// many parsed lines (a block of n changed lines costs about log2(n) runs).
type probe struct {
	wait, since int
}

// keyState reports whether the state of the next record entry is known,
// so that its key can be looked up; it may parse the pending lines to know
// it.
func (p *parser) keyState() bool {
	if p.defTTL >= 0 || p.pendKnown {
		return true
	}
	if p.probe.since < p.probe.wait {
		p.probe.since++
		return false
	}
	p.flush()
	return true
}

// reuse looks the record entry of key k up in the previous version (its
// text, if written to the segment, is from start and its tokens from ts);
// when found the entry is replaced by the previous record and reuse reports
// true. The record is added at once when no line is pending before it,
// else in file order when the segment is parsed.
func (p *parser) reuse(k entryKey, start, ts int, pos Position) bool {
	if k == (entryKey{}) {
		return false
	}
	i := p.memo.find(k)
	if i < 0 {
		p.probe.wait = min(max(2*p.probe.wait, 1), segmentLines)
		p.probe.since = 0
		return false
	}
	p.probe.wait = 0
	p.seg.Truncate(start)
	p.tokmaps = p.tokmaps[:ts]
	rr := p.memo.records[i]
	if len(p.lines) >= reusedQueue {
		// Reused records queue behind a changed line only so far:
		// past that, parse the lines pending (one dns.ZoneParser run
		// every reusedQueue lines at most) rather than copy segment
		// lines. (So a segment holds segmentLines lines of text at
		// most, and no more than reusedQueue after a reused line.)
		p.flush()
	}
	if len(p.lines) == 0 {
		p.addRecord(rr, pos, k, p.reusedTTL(p.defTTL, rr), i)
		p.pendTTL = p.lastTTL
	} else {
		p.lines = append(p.lines, segLine{record: true, pos: pos, reused: rr, from: i, key: k, start: start, end: start, defTTL: p.defTTL})
		p.pendTTL = p.reusedTTL(p.defTTL, rr)
	}
	p.pendKnown = true
	return true
}

// reusePlain looks the plain line at the splitter's position
// (splitter.plainLine) up in the previous version before the splitter cuts
// it into tokens: its normalised text, hashed for its key without being
// written to the segment, is the line with its owner made absolute. It
// reports whether the entry was reused, and read; otherwise the splitter
// reads the entry as any other, and p.looked tells addLine not to look it
// up again.
func (p *parser) reusePlain(s *splitter) bool {
	if p.defTTL < 0 && !p.pendKnown {
		return false // the state is not known without parsing (keyState)
	}
	s.skipEmptyLines()
	line, n, next, ok := s.plainLine()
	if !ok {
		return false
	}
	owner := ownerName{s.src[s.off : s.off+n], p.curOrigin}
	var k entryKey
	if b, ok := p.keyHead(p.curOrigin, p.defTTL, p.pendTTL); ok {
		b = owner.appendTo(b)
		b = append(b, line[n:]...)
		k = p.keyOf(append(b, lineEnd...))
	}
	if !p.reuse(k, p.seg.Len(), len(p.tokmaps), Position{File: p.file, Line: s.line, Col: 1}) {
		p.looked = true
		return false
	}
	p.prevOwner = owner
	s.skipLine(next)
	return true
}
