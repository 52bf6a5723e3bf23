package fastpath

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"iter"
	"maps"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/internal/dnsname"
	"github.com/gitops-dns/resolverd/internal/wire"
	"github.com/gitops-dns/resolverd/node"
	"github.com/gitops-dns/resolverd/zones"
)

// Counter is what a precomputed answer counts itself in (the authority
// plugin's answers metric); prometheus.Counter satisfies it.
type Counter interface{ Inc() }

// Prebuilt is one precomputed response: everything after the question,
// compressed for a question at offset 12, with the header flags (QR, AA,
// rcode; RD and CD are the query's) and section counts.
type Prebuilt struct {
	Flags  uint16
	Counts [3]uint16
	// off is the end of the question the body is compressed for;
	// serialAt is where the zone's SOA serial is in Body when the
	// response ends with the zone's SOA (NODATA, NXDOMAIN: RFC 2308
	// section 3), else 0: the next revision, when only the serial
	// changed, copies it with the serial written in (BuildFrom).
	off, serialAt uint16
	Body          []byte
	// Counted is incremented once per response sent from this answer
	// (the authority metric of its zone and Result).
	Counted Counter
	// sum hashes the response (dedupeKey): identical responses of a zone
	// are one object, found by sum and compared in full (same).
	sum uint64
}

// Result is the authority metric's label of the answer: answer, nodata or
// nxdomain (resultOf).
func (p *Prebuilt) Result() string {
	switch {
	case p.Rcode() == dns.RcodeNameError:
		return "nxdomain"
	case p.Counts[0] > 0:
		return "answer"
	}
	return "nodata"
}

// Rcode is the response code of the answer.
func (p *Prebuilt) Rcode() int { return int(p.Flags & wire.RcodeMask) }

// Write writes the response to q (read from pkt) into dst.
func (p *Prebuilt) Write(dst, pkt []byte, q *Query) (int, bool) {
	return writeResponse(dst, pkt, q, p.Flags, p.Counts, p.Body)
}

// ownerAnswers are the precomputed answers of one owner name.
type ownerAnswers struct {
	types   []uint16
	answers []*Prebuilt
	// nodata answers every other ordinary type; nil when the name has a
	// CNAME (each type chases differently) or is not answered here, or
	// byLen: then the zone's NODATA for names of its length answers
	// (zoneTable.nodata).
	nodata *Prebuilt
	byLen  bool
	// slow: the name is at or below a zone cut, below a forward rule, or
	// otherwise not final: always the slow path, for the name and below.
	slow bool
}

// read is one name an owner's answers were made from.
type read struct {
	name string // lower case, absolute
	// addrs: the name had addresses (A, AAAA) of its own, so it exists
	// for as long as its records do not change; without, the lookup of
	// the name may also depend on its ancestors (an empty non-terminal,
	// the closest encloser, a wildcard: RFC 4592 section 4).
	addrs bool
}

// zoneTable is the precomputed answers of one served zone: its owner
// names and its NXDOMAIN. It depends on nothing but the zone, the zones
// served below it and the forward rules inside it (deps), so the next
// revision reuses it as it is when those did not change: a one-record
// change rebuilds one zone, not the repo. Immutable once built.
type zoneTable struct {
	zone   *zones.Zone
	deps   string
	owners map[string]*ownerAnswers // by lower-case wire name
	// reads are, per owner (wire name) whose answers were made from other
	// names too (CNAME targets, additional-section and referral names),
	// those names, sorted: the next revision keeps the answers when none
	// of them changed (ownerReuse).
	reads map[string][]read
	// nxdomain answers a name the zone does not have; nil without SOA.
	nxdomain *Prebuilt
	// nodata answers the owners marked byLen, by the length of their wire
	// name: a NODATA response is the zone's SOA, compressed against the
	// question, so the same for every name of a length unless the name
	// shares more than the origin with the SOA's own names (ownNodata).
	// Held once here, the SOA's serial changes in it alone.
	nodata [maxNameWire + 1]*Prebuilt
	// byLen counts the owners that nodata answers, by length: an entry
	// is held while one is left.
	byLen [maxNameWire + 1]int32
	// negative are the owners (wire names) that hold a response carrying
	// the SOA themselves (a CNAME owner's chase ending in NODATA or
	// NXDOMAIN, an owner's own NODATA): the next revision writes its
	// serial into them.
	negative map[string]bool
	// refs counts the references from the table to each distinct response
	// (by sum): the next revision adds and takes away those of the owners
	// it changed, and keeps the count of distinct responses (responses, and
	// their body bytes) without a pass over every owner.
	refs      map[uint64]int32
	responses int
	bytes     int
}

func newTable(z *zones.Zone, deps string) *zoneTable {
	return &zoneTable{zone: z, deps: deps, owners: map[string]*ownerAnswers{}, reads: map[string][]read{}, negative: map[string]bool{}, refs: map[uint64]int32{}}
}

// ref adds d references to p.
func (t *zoneTable) ref(p *Prebuilt, d int32) {
	if p == nil {
		return
	}
	n := t.refs[p.sum] + d
	switch {
	case n == 0:
		delete(t.refs, p.sum)
		t.responses--
		t.bytes -= len(p.Body)
		return
	case n == d:
		t.responses++
		t.bytes += len(p.Body)
	}
	t.refs[p.sum] = n
}

// refOwner adds d references to each response oa, the answers of owner
// w, holds, and d owners to those of its length when nodata answers it.
func (t *zoneTable) refOwner(w string, oa *ownerAnswers, d int32) {
	for _, p := range oa.answers {
		t.ref(p, d)
	}
	t.ref(oa.nodata, d)
	if oa.byLen {
		l := len(w)
		switch t.byLen[l] += d; t.byLen[l] {
		case 0:
			t.ref(t.nodata[l], -1)
			t.nodata[l] = nil
		case d:
			t.ref(t.nodata[l], 1)
		}
	}
}

// countRefs counts the references to every response of the table.
func (t *zoneTable) countRefs() {
	t.refs, t.responses, t.bytes = make(map[uint64]int32, len(t.owners)), 0, 0
	for w, oa := range t.owners {
		t.refOwner(w, oa, 1)
	}
	t.ref(t.nxdomain, 1)
}

// Answers are the precomputed responses of one snapshot's internal zones.
// Immutable once built; safe for concurrent use.
type Answers struct {
	Snapshot *node.Snapshot
	zones    map[string]*zoneTable // by lower-case wire origin
	// tops holds the last label (wire, with the root octet) of every
	// zone's origin; rootZone is set when "." itself is served. A name
	// under no such label is in no zone: Lookup stops there instead of
	// trying each of its suffixes (cold recursion paid that on every
	// query).
	tops     map[string]struct{}
	rootZone bool
	// topList is tops as a list while it is short (maxTopList): a few
	// compares of short strings instead of hashing one.
	topList []string
	// depths has bit k set when some zone's origin has k labels (the
	// root's 0): of a name's suffixes, Lookup asks the zones map only
	// for those as long as an origin. An internal name then costs one
	// lookup to find its zone, not one per label.
	depths [2]uint64
	// recursers4 are the IPv4 prefixes of the snapshot's recursion.allow as
	// masks: the RA bit of every precomputed answer is decided with them
	// (mayRecurse), a few integer compares instead of RecursionAllowed's
	// address conversion per query.
	recursers4 []v4Net
	// Responses is how many responses were built; Bytes their body bytes.
	Responses int
	Bytes     int
}

// BuildOptions tune Build.
type BuildOptions struct {
	// MaxRecords: zones larger than this in total are not precomputed
	// (every query then takes the slow path); 0 means no limit.
	MaxRecords int
	// Counter returns the counter a response of zone/result increments;
	// nil: none.
	Counter func(zone, result string) Counter
}

// commonTypes are precomputed for every CNAME owner besides its own types
// (each is a different chase); other names answer absent types with their
// NODATA response.
var commonTypes = []uint16{
	dns.TypeA, dns.TypeAAAA, dns.TypeCNAME, dns.TypeMX, dns.TypeTXT, dns.TypeSRV,
	dns.TypePTR, dns.TypeNS, dns.TypeSOA, dns.TypeCAA, dns.TypeHTTPS, dns.TypeSVCB,
}

// Build precomputes the answers of snap's internal zones, as the authority
// plugin would give them: one lookup per name and type, done once per
// revision instead of once per query.
func Build(snap *node.Snapshot, o BuildOptions) (*Answers, error) {
	return BuildFrom(nil, snap, o)
}

// BuildFrom is Build for the revision that follows prev's (built with the
// same options; may be nil): the table of a zone prev holds (the same
// immutable *zones.Zone, shared by cluster.LoadAgainst when its file did not
// change) with the same zones served below it and the same forward rules
// inside it is taken as it is, not built again; of a zone whose file
// changed, the owners the change did not touch are (zoneFrom), at a cost
// that grows with the change, not with the zone. The result equals
// Build's.
func BuildFrom(prev *Answers, snap *node.Snapshot, o BuildOptions) (*Answers, error) {
	a := &Answers{Snapshot: snap, zones: map[string]*zoneTable{}, tops: map[string]struct{}{}}
	if snap == nil {
		return a, nil
	}
	for _, p := range snap.RecursionAllow {
		if p.Addr().Is4() {
			mask := ^uint32(0) << (32 - p.Bits())
			if p.Bits() == 0 {
				mask = 0
			}
			a.recursers4 = append(a.recursers4, v4Net{net: binary.BigEndian.Uint32(p.Masked().Addr().AsSlice()), mask: mask})
		}
	}
	if snap.Authority == nil {
		return a, nil
	}
	zs := snap.Authority.Zones()
	total := 0
	for _, z := range zs {
		total += z.Len()
	}
	if o.MaxRecords > 0 && total > o.MaxRecords {
		return a, nil
	}
	had := map[string]*zoneTable{} // by origin (lower case)
	if prev != nil {
		for _, t := range prev.zones {
			had[t.zone.Origin()] = t
		}
	}
	deps := zoneDeps(snap)
	tables := make([]*zoneTable, len(zs))
	from := make([]*zoneTable, len(zs)) // the previous table of a changed zone
	var todo []int
	for i, z := range zs {
		d := deps[z.Origin()]
		t := had[z.Origin()]
		if t != nil && t.deps == d && t.zone == z {
			tables[i] = t
			continue
		}
		tables[i] = newTable(z, d)
		if t != nil && t.deps == d {
			from[i] = t
		}
		todo = append(todo, i)
	}
	// Zones are independent: build the changed ones in parallel, on all
	// CPUs but one (cpus): the queries answered meanwhile take the slow
	// path and must not wait for a CPU. With every CPU busy, a goroutine
	// woken by the network waits for the runtime's next poll, up to 10 ms
	// later (BenchmarkApplyChange at 1M records, 2 CPUs, alternated runs:
	// p99 during a 100k-record zone added 11-20 ms with both CPUs
	// building, 0.2-0.3 ms with one; the answers ready 0.1-0.3 s later).
	cpus := make(chan struct{}, max(1, runtime.GOMAXPROCS(0)-1))
	errs := make([]error, len(zs))
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(runtime.GOMAXPROCS(0), len(todo)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if r := reusable(from[i], zs[i]); r != nil {
					b := newBuilder(tables[i], snap, o, r, 0)
					if ok, err := b.zoneFrom(r); ok || err != nil {
						if err != nil {
							errs[i] = fmt.Errorf("zone %s: %w", zs[i].Origin(), err)
						}
						continue
					}
					tables[i] = newTable(zs[i], tables[i].deps) // built whole
				}
				b := newBuilder(tables[i], snap, o, nil, 0)
				b.cpus = cpus
				if err := b.zone(); err != nil {
					errs[i] = fmt.Errorf("zone %s: %w", zs[i].Origin(), err)
				}
			}
		}()
	}
	for _, i := range todo {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, t := range tables {
		wo, err := wireName(t.zone.Origin())
		if err != nil {
			return nil, err
		}
		a.zones[wo] = t
		d := labelCount(wo)
		a.depths[d/64] |= 1 << (d % 64)
		if top := lastLabel([]byte(wo)); top == nil {
			a.rootZone = true
		} else {
			a.tops[string(top)] = struct{}{}
		}
		a.Responses += t.responses
		a.Bytes += t.bytes
	}
	if len(a.tops) <= maxTopList {
		a.topList = slices.Sorted(maps.Keys(a.tops))
	}
	return a, nil
}

// zoneDeps names, per served zone origin, what its table depends on
// besides the zone itself: the served zones below its origin (whose names
// it leaves to them) and the forward rules below its origin (whose names go
// to the recursor). Each name's ancestors are walked once: no pass over
// every pair of zones (reverse zones come by the thousand).
func zoneDeps(snap *node.Snapshot) map[string]string {
	zs := snap.Authority.Zones()
	served := make(map[string]bool, len(zs))
	for _, z := range zs {
		served[z.Origin()] = true
	}
	lists := map[string][]string{}
	above := func(name, what string) {
		for off, end := dns.NextLabel(name, 0); !end; off, end = dns.NextLabel(name, off) {
			if p := name[off:]; served[p] {
				lists[p] = append(lists[p], what)
			}
		}
		if name != "." && served["."] {
			lists["."] = append(lists["."], what)
		}
	}
	for _, z := range zs {
		above(z.Origin(), "zone "+z.Origin())
	}
	for _, f := range snap.Forward {
		above(f.Zone, "forward "+f.Zone)
	}
	out := make(map[string]string, len(lists))
	for o, l := range lists {
		slices.Sort(l)
		out[o] = strings.Join(l, "\n")
	}
	return out
}

type builder struct {
	t    *zoneTable
	snap *node.Snapshot
	o    BuildOptions
	// dedupe holds every distinct response built or taken so far by its
	// sum; spill the rare one whose sum another response has, by its key.
	dedupe map[uint64]*Prebuilt
	spill  map[string]*Prebuilt
	buf    []byte
	key    []byte
	wire   []byte
	// reuse: what zoneFrom takes from the zone's previous table; nil
	// when the zone is built whole.
	reuse *ownerReuse
	// patched are the previous table's negative responses as this
	// revision has them (its serial written in).
	patched map[*Prebuilt]*Prebuilt
	// cpus is held while building owners: at most its capacity at once.
	cpus chan struct{}
}

func newBuilder(t *zoneTable, snap *node.Snapshot, o BuildOptions, reuse *ownerReuse, size int) *builder {
	return &builder{t: t, snap: snap, o: o, dedupe: make(map[uint64]*Prebuilt, size), reuse: reuse}
}

// sumSeed seeds Prebuilt.sum: one per process, so that every build of it
// agrees.
var sumSeed = maphash.MakeSeed()

// ownerReuse is what a zone's table may take from the table of the
// zone's previous version (same origin, same deps): the answers of every
// owner whose records did not change (zones.ChangedOwners) and whose
// reads did not either (zoneFrom). A read with addresses of its own is
// unchanged when its records are; one without (absent, an empty
// non-terminal, a wildcard's synthesis) also when no ancestor below the
// apex changed or had a name below it change, and no wildcard appeared
// at the apex: that is all RFC 1034 4.3.2 step 3 and RFC 4592 look at (as
// zones.Lookup implements them) besides cuts. When NS records changed, a
// cut may have come or gone at any changed name: the names at and below
// it are built again, and a read below it is changed. (A DS record is
// read by its owner's own answers alone.)
// Negative responses carry the SOA: when only its serial changed they are
// copied with the new one written in, else nothing is reused.
type ownerReuse struct {
	prev    *zoneTable
	origin  string
	changed map[string]bool
	// above are the ancestors, below the apex, of the changed names: a
	// name there may have become or ceased to be an empty non-terminal.
	above map[string]bool
	// wildApex: the apex's wildcard changed.
	wildApex bool
	// cuts: NS records changed, so a zone cut may have come or gone at a
	// changed name (below the apex), and the names at and below it with
	// it.
	cuts bool
	// serial and oldSerial are the SOA serials of the zone and of its
	// previous version.
	serial, oldSerial uint32
}

// reusable says what the table of zone z may take from prev, the table of
// its previous version; nil: nothing.
func reusable(prev *zoneTable, z *zones.Zone) *ownerReuse {
	if prev == nil {
		return nil
	}
	c, ok := zones.ChangedOwners(prev.zone, z)
	if !ok || !onlySerial(prev.zone.SOA(), z.SOA()) {
		return nil
	}
	r := &ownerReuse{prev: prev, origin: z.Origin(), changed: c.Owners, above: map[string]bool{}, cuts: c.Types[dns.TypeNS], serial: z.SOA().Serial, oldSerial: prev.zone.SOA().Serial}
	for name := range c.Owners {
		// A name written with escapes has other spellings that the reads
		// would not match.
		if strings.IndexByte(name, '\\') >= 0 {
			return nil
		}
		for a := parentIn(name, r.origin); a != ""; a = parentIn(a, r.origin) {
			r.above[a] = true
		}
	}
	r.wildApex = c.Owners["*."+r.origin] || r.origin == "." && c.Owners["*."]
	return r
}

// parentIn is the parent of name when it is strictly below origin and not
// origin itself, else "".
func parentIn(name, origin string) string {
	off, end := dns.NextLabel(name, 0)
	if end || name == origin {
		return ""
	}
	p := name[off:]
	if p == origin || !dns.IsSubDomain(origin, p) {
		return ""
	}
	return p
}

// onlySerial reports whether two SOA records differ in nothing but the
// serial, as written: their negative responses then differ in its four
// bytes alone.
func onlySerial(a, b *dns.SOA) bool {
	return a != nil && b != nil && a.Hdr.Name == b.Hdr.Name && a.Hdr.Class == b.Hdr.Class && a.Hdr.Ttl == b.Hdr.Ttl &&
		a.Ns == b.Ns && a.Mbox == b.Mbox && a.Refresh == b.Refresh && a.Retry == b.Retry && a.Expire == b.Expire && a.Minttl == b.Minttl
}

// dirty reports whether what a lookup of read d found may differ now.
func (r *ownerReuse) dirty(d read) bool {
	if r.changed[d.name] || strings.IndexByte(d.name, '\\') >= 0 {
		return true
	}
	if r.cuts {
		for a := parentIn(d.name, r.origin); a != ""; a = parentIn(a, r.origin) {
			if r.changed[a] {
				return true // a cut above it may have come or gone
			}
		}
	}
	if d.addrs {
		return false
	}
	if r.wildApex {
		return true
	}
	for a := d.name; a != ""; a = parentIn(a, r.origin) {
		if r.changed[a] || r.above[a] {
			return true
		}
	}
	return false
}

func (b *builder) owner(w string) *ownerAnswers {
	oa := b.t.owners[w]
	if oa == nil {
		oa = &ownerAnswers{}
		b.t.owners[w] = oa
	}
	return oa
}

// ownersPerPart: a zone with more owner names than this is built in
// parts, one per CPU: a revision that changes one large zone has that zone
// alone to build.
const ownersPerPart = 2048

// zone builds b.t, the table of zone b.t.zone: the forward marks and the
// NXDOMAIN answer, then its owner names, in parallel parts for a large
// zone. The parts' identical responses are then made one, as a single
// builder makes them (dedupe).
func (b *builder) zone() error {
	z := b.t.zone
	if err := b.markForwarded(); err != nil {
		return err
	}
	if err := b.nxdomain(); err != nil {
		return err
	}
	names := z.OwnerNames()
	// The maps are made at their final size: grown from empty, a 100k-name
	// zone rehashed them over and over (a tenth of its build).
	marked := b.t.owners
	b.t.owners = make(map[string]*ownerAnswers, len(marked)+len(names))
	maps.Copy(b.t.owners, marked)
	n := max(1, min(runtime.GOMAXPROCS(0), len(names)/ownersPerPart))
	parts := make([]*builder, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range parts {
		part := names[i*len(names)/n : (i+1)*len(names)/n]
		pt := newTable(z, "")
		pt.owners = make(map[string]*ownerAnswers, len(part))
		parts[i] = newBuilder(pt, b.snap, b.o, nil, len(part))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if b.cpus != nil {
				b.cpus <- struct{}{}
				defer func() { <-b.cpus }()
			}
			errs[i] = parts[i].owners(part, marked)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if n > 1 {
		size := len(b.dedupe)
		for _, p := range parts {
			size += len(p.dedupe)
		}
		merged := make(map[uint64]*Prebuilt, size)
		maps.Copy(merged, b.dedupe)
		b.dedupe = merged
	}
	same := map[*Prebuilt]*Prebuilt{}
	for _, p := range parts {
		for _, m := range [2]iter.Seq[*Prebuilt]{maps.Values(p.dedupe), maps.Values(p.spill)} {
			for v := range m {
				if first := b.intern(v); first != v {
					same[v] = first
				}
			}
		}
	}
	one := func(p *Prebuilt) *Prebuilt {
		if f, ok := same[p]; ok {
			return f
		}
		return p
	}
	for _, p := range parts {
		for w, oa := range p.t.owners {
			if oa.nodata != nil {
				oa.nodata = one(oa.nodata)
			}
			for i, p := range oa.answers {
				oa.answers[i] = one(p)
			}
			b.t.owners[w] = oa
		}
		maps.Copy(b.t.reads, p.t.reads)
		maps.Copy(b.t.negative, p.t.negative)
		for l, nd := range p.t.nodata {
			if nd != nil {
				b.t.nodata[l] = one(nd)
			}
		}
	}
	b.t.countRefs()
	return nil
}

// markForwarded marks slow the names under a forward rule more specific
// than the zone: they belong to the recursor (and everything below).
func (b *builder) markForwarded() error {
	ws, err := b.forwarded()
	for _, w := range ws {
		b.owner(w).slow = true
	}
	return err
}

// forwarded are the wire names of the forward rules more specific than
// the zone that fall in it.
func (b *builder) forwarded() ([]string, error) {
	z := b.t.zone
	var ws []string
	for _, f := range b.snap.Forward {
		if len(f.Zone) > len(z.Origin()) && b.snap.Authority.Match(f.Zone) == z {
			w, err := wireName(f.Zone)
			if err != nil {
				return ws, err
			}
			ws = append(ws, w)
		}
	}
	return ws, nil
}

// nxdomain builds the zone's NXDOMAIN. It does not depend on the name:
// the SOA of the zone with the negative TTL (RFC 2308), owner written in
// full (a pointer into the question would depend on it). Built from the
// SOA, not from a lookup of some absent name: a wildcard at the apex
// would answer that one.
func (b *builder) nxdomain() error {
	z := b.t.zone
	soa := z.SOA()
	if soa == nil {
		return nil
	}
	neg := dns.Copy(soa).(*dns.SOA)
	neg.Hdr.Ttl = min(soa.Hdr.Ttl, soa.Minttl)
	nx := zones.Answer{Rcode: dns.RcodeNameError, Authoritative: true, Ns: []dns.RR{neg}}
	p, err := b.response(z, z.Origin(), dns.TypeA, nx, false)
	b.t.nxdomain = p
	return err
}

// zoneFrom builds b.t from r.prev, the table of the zone's previous
// version, at the cost of the change: a copy of its maps in which the
// owners the change touched are built again (the changed names, their
// ancestors, which may have become or ceased to be empty non-terminals,
// and the owners whose reads changed) and the responses that carry the
// SOA get its new serial. false: a response could not be patched, the
// zone must be built whole.
func (b *builder) zoneFrom(r *ownerReuse) (bool, error) {
	z, prev, t := b.t.zone, r.prev, b.t
	t.owners = maps.Clone(prev.owners)
	t.reads = maps.Clone(prev.reads)
	t.negative = maps.Clone(prev.negative)
	t.refs = maps.Clone(prev.refs)
	t.responses, t.bytes = prev.responses, prev.bytes
	t.byLen = prev.byLen
	t.ref(prev.nxdomain, -1)
	if err := b.nxdomain(); err != nil {
		return false, err
	}
	t.ref(t.nxdomain, 1)
	for l, p := range prev.nodata {
		if p == nil {
			continue
		}
		q, ok := b.carried(p)
		if !ok {
			return false, nil
		}
		t.ref(p, -1)
		t.ref(q, 1)
		t.nodata[l] = q
	}
	// The names the change touched, by wire name. An ancestor of a
	// changed name that has records of its own (answers, in the previous
	// table) is there in both versions, with the same answers unless it
	// changed itself or its reads did: only an empty non-terminal may have
	// come or gone.
	touched := map[string]string{}
	for _, names := range [2]map[string]bool{r.changed, r.above} {
		for name := range names {
			w, err := b.wireName(name)
			if err != nil {
				return false, err
			}
			if old := prev.owners[w]; old != nil && len(old.types) > 0 && !r.changed[name] {
				continue
			}
			touched[w] = name
		}
	}
	touch := func(w string) (bool, error) {
		name, _, err := dns.UnpackDomainName([]byte(w), 0)
		if err != nil || strings.IndexByte(name, '\\') >= 0 {
			return false, err // only the zone's own spelling finds it
		}
		touched[w] = name
		return true, nil
	}
	for w, rs := range prev.reads {
		for _, d := range rs {
			if r.dirty(d) {
				if ok, err := touch(w); !ok {
					return false, err
				}
				break
			}
		}
	}
	if r.cuts {
		// Every name at or below a changed one (not the apex: never a cut).
		cut := map[string]bool{}
		for name := range r.changed {
			if name != z.Origin() {
				w, err := b.wireName(name)
				if err != nil {
					return false, err
				}
				cut[w] = true
			}
		}
		for w := range prev.owners {
			for off := 0; w[off] != 0; off += int(w[off]) + 1 {
				if cut[w[off:]] {
					if ok, err := touch(w); !ok {
						return false, err
					}
					break
				}
			}
		}
	}
	for w := range prev.negative {
		if _, ok := touched[w]; ok {
			continue
		}
		old := prev.owners[w]
		oa := b.reused(old)
		if oa == nil {
			return false, nil
		}
		t.refOwner(w, old, -1)
		t.refOwner(w, oa, 1)
		t.owners[w] = oa
	}
	// A forward rule's name stays slow whatever the zone holds there.
	ws, err := b.forwarded()
	if err != nil {
		return false, err
	}
	marked := map[string]*ownerAnswers{}
	for _, w := range ws {
		marked[w] = t.owners[w]
	}
	var reads []read
	for w, name := range touched {
		if marked[w] != nil {
			continue
		}
		if old := t.owners[w]; old != nil {
			t.refOwner(w, old, -1)
			delete(t.owners, w)
			delete(t.reads, w)
			delete(t.negative, w)
		}
		on, ok := z.Owner(name)
		if !ok {
			continue // gone
		}
		if reads, err = b.buildOwner(on, w, marked, reads); err != nil {
			return false, err
		}
		if oa := t.owners[w]; oa != nil {
			t.refOwner(w, oa, 1)
		}
	}
	return true, nil
}

// owners builds the answers of names into b.t; marked are the names the
// forward rules made slow (read only).
func (b *builder) owners(names []zones.OwnerName, marked map[string]*ownerAnswers) error {
	var reads []read
	for _, on := range names {
		w, err := b.wireName(on.Name)
		if err != nil {
			return err
		}
		if reads, err = b.buildOwner(on, w, marked, reads); err != nil {
			return err
		}
	}
	return nil
}

// buildOwner builds the answers of owner on (wire name w) into b.t;
// reads is scratch space, returned for the next owner.
func (b *builder) buildOwner(on zones.OwnerName, w string, marked map[string]*ownerAnswers, reads []read) ([]read, error) {
	z := b.t.zone
	origin := z.Origin()
	if b.snap.Authority.Match(on.Name) != z {
		return reads, nil // a zone below this one, also served here, answers it
	}
	if marked[w] != nil {
		return reads, nil // slow already
	}
	oa := b.owner(w)
	if on.Cut || b.snap.ForwardedBelow(on.Name, origin) {
		oa.slow = true
		return reads, nil
	}
	hasCNAME := false
	for _, t := range on.Types {
		hasCNAME = hasCNAME || t == dns.TypeCNAME
	}
	reads = reads[:0]
	if !hasCNAME {
		// Every type the name lacks gets the same NODATA (the body only
		// depends on the question's length): one response, not one per type.
		ans := z.Lookup(on.Name, dns.TypeNULL)
		reads = appendReads(reads, on.Name, ans)
		p, err := b.response(z, on.Name, dns.TypeNULL, ans, true)
		if err != nil {
			return reads, err
		}
		if p != nil && p.Rcode() == dns.RcodeSuccess && p.Counts[0] == 0 {
			if soa := z.SOA(); soa != nil && !ownNodata(on.Name, origin, soa) {
				oa.byLen = true
				b.t.nodata[len(w)] = p
			} else {
				oa.nodata = p
			}
		}
	}
	types := on.Types
	if hasCNAME {
		// A CNAME owner answers each type with a different chase.
		types = append(append([]uint16(nil), on.Types...), commonTypes...)
	}
	for i, t := range types {
		if slices.Contains(types[:i], t) {
			continue
		}
		ans := z.Lookup(on.Name, t)
		reads = appendReads(reads, on.Name, ans)
		p, err := b.response(z, on.Name, t, ans, true)
		if err != nil {
			return reads, err
		}
		if p != nil {
			oa.types = append(oa.types, t)
			oa.answers = append(oa.answers, p)
			if p.serialAt > 0 {
				b.t.negative[w] = true
			}
		}
	}
	if oa.nodata != nil && oa.nodata.serialAt > 0 {
		b.t.negative[w] = true
	}
	if rs := readsOf(z, reads); rs != nil {
		b.t.reads[w] = rs
	}
	return reads, nil
}

// ownNodata reports whether owner (lower case) shares more than the
// origin with the SOA's names: its NODATA's SOA may then be compressed
// against the question differently from other names of its length.
func ownNodata(owner, origin string, soa *dns.SOA) bool {
	for _, n := range [2]string{soa.Ns, soa.Mbox} {
		n = dnsname.Lower(n)
		for off, end := 0, false; !end; off, end = dns.NextLabel(n, off) {
			s := n[off:]
			if len(s) <= len(origin) {
				break
			}
			if owner == s || strings.HasSuffix(owner, "."+s) {
				return true
			}
		}
	}
	return false
}

// appendReads appends to dst the names other than owner that ans was made
// from: the owners of its records (a CNAME chain's, an additional
// section's, a referral's) and the names its records point at (CNAME,
// NS, MX and SRV targets, whose addresses or absence the answer holds).
// The zone's SOA in a negative answer is left out: its change is patched
// (ownerReuse).
func appendReads(dst []read, owner string, ans zones.Answer) []read {
	add := func(name string) {
		if !dnsname.EqualFold(name, owner) {
			dst = append(dst, read{name: dnsname.Lower(name)})
		}
	}
	for _, sec := range [3][]dns.RR{ans.Answer, ans.Ns, ans.Extra} {
		for _, rr := range sec {
			if _, ok := rr.(*dns.SOA); ok {
				continue
			}
			add(rr.Header().Name)
			switch r := rr.(type) {
			case *dns.CNAME:
				add(r.Target)
			case *dns.NS:
				add(r.Ns)
			case *dns.MX:
				add(r.Mx)
			case *dns.SRV:
				add(r.Target)
			}
		}
	}
	return dst
}

// readsOf sorts reads, drops repeats and notes which names have addresses
// in z; nil when there are none.
func readsOf(z *zones.Zone, reads []read) []read {
	if len(reads) == 0 {
		return nil
	}
	slices.SortFunc(reads, func(a, b read) int { return strings.Compare(a.name, b.name) })
	out := slices.Clone(slices.CompactFunc(reads, func(a, b read) bool { return a.name == b.name }))
	for i := range out {
		out[i].addrs = len(z.Addrs(out[i].name)) > 0
	}
	return out
}

// response builds the wire answer of one lookup, or nil when the authority
// plugin's answer would depend on the query's RD bit or the client (a
// referral, a CNAME chain leaving our zones), or is synthesized.
func (b *builder) response(z *zones.Zone, name string, qtype uint16, ans zones.Answer, compress bool) (*Prebuilt, error) {
	if ans.Rcode != dns.RcodeSuccess && ans.Rcode != dns.RcodeNameError {
		return nil, nil
	}
	if ans.Referral() {
		return nil, nil
	}
	if _, dangling := zones.DanglingCNAME(ans.Answer); dangling && qtype != dns.TypeCNAME {
		return nil, nil // a chain the authority plugin follows when RD is set
	}
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.Response = true
	m.RecursionDesired = false
	m.Authoritative = ans.Authoritative
	m.Rcode = ans.Rcode
	m.Answer, m.Ns, m.Extra = ans.Answer, ans.Ns, ans.Extra
	m.Compress = compress
	var err error
	b.buf, err = m.PackBuffer(b.buf[:0])
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", name, dns.TypeToString[qtype], err)
	}
	pkt := b.buf
	off := headerLen
	for pkt[off] != 0 {
		off += int(pkt[off]) + 1
	}
	off += 5
	flags := binary.BigEndian.Uint16(pkt[2:])
	p := &Prebuilt{
		Flags:  flags &^ (wire.FlagRD | wire.FlagCD),
		Counts: [3]uint16{binary.BigEndian.Uint16(pkt[6:]), binary.BigEndian.Uint16(pkt[8:]), binary.BigEndian.Uint16(pkt[10:])},
		off:    uint16(off),
	}
	// Identical responses (every NODATA of a zone, shared RRsets) share
	// one body; the key includes the question length, which the
	// compression offsets depend on.
	p.Body = pkt[off:]
	p.sum = b.sum(p)
	if old := b.find(p); old != nil {
		return old, nil
	}
	p.Body = append([]byte(nil), pkt[off:]...)
	if soa := z.SOA(); soa != nil && len(ans.Ns) == 1 && len(ans.Extra) == 0 && len(p.Body) >= 20 {
		// RFC 2308 section 3: the SOA, last in the message; its serial
		// is followed by refresh, retry, expire and minimum.
		if s, ok := ans.Ns[0].(*dns.SOA); ok && s.Serial == soa.Serial && binary.BigEndian.Uint32(p.Body[len(p.Body)-20:]) == soa.Serial {
			p.serialAt = uint16(len(p.Body) - 20)
		}
	}
	if b.o.Counter != nil {
		p.Counted = b.o.Counter(z.Origin(), resultOf(ans))
	}
	return b.intern(p), nil
}

// dedupeKey is the key of response p among its zone's (a builder builds
// one zone): what its bytes depend on, the question's end offset included
// (compression pointers depend on it).
func (b *builder) dedupeKey(p *Prebuilt) []byte {
	kb := binary.BigEndian.AppendUint16(b.key[:0], p.off)
	kb = binary.BigEndian.AppendUint16(kb, p.Flags)
	for _, c := range p.Counts {
		kb = binary.BigEndian.AppendUint16(kb, c)
	}
	kb = append(kb, p.Body...)
	b.key = kb
	return kb
}

func (b *builder) sum(p *Prebuilt) uint64 { return maphash.Bytes(sumSeed, b.dedupeKey(p)) }

// same reports whether p and q are the same response.
func same(p, q *Prebuilt) bool {
	return p == q || p.sum == q.sum && p.off == q.off && p.Flags == q.Flags && p.Counts == q.Counts && bytes.Equal(p.Body, q.Body)
}

// find returns the response of b equal to p, or nil.
func (b *builder) find(p *Prebuilt) *Prebuilt {
	q, ok := b.dedupe[p.sum]
	if !ok {
		return nil
	}
	if same(p, q) {
		return q
	}
	return b.spill[string(b.dedupeKey(p))]
}

// intern returns the response of b equal to p, made p (and counted) when
// there is none yet.
func (b *builder) intern(p *Prebuilt) *Prebuilt {
	if q := b.find(p); q != nil {
		return q
	}
	if _, taken := b.dedupe[p.sum]; !taken {
		b.dedupe[p.sum] = p
	} else {
		if b.spill == nil {
			b.spill = map[string]*Prebuilt{}
		}
		b.spill[string(b.dedupeKey(p))] = p
	}
	return p
}

// reused returns old, the answers of an owner in the previous table
// (ownerReuse says when they are still right), as this table has them:
// negative responses with the new serial, each response the one object of
// its content here, counted as if built here; nil when a negative
// response cannot be patched.
func (b *builder) reused(old *ownerAnswers) *ownerAnswers {
	oa := *old
	var ok bool
	if oa.nodata, ok = b.carried(old.nodata); !ok {
		return nil
	}
	copied := false
	for i, p := range old.answers {
		q, ok := b.carried(p)
		if !ok {
			return nil
		}
		if q != p {
			if !copied {
				oa.answers, copied = slices.Clone(old.answers), true // old's is shared
			}
			oa.answers[i] = q
		}
	}
	return &oa
}

// carried is the previous table's response p in this table: with the new
// serial written in when it ends with the SOA; false when p is negative
// but not patchable.
func (b *builder) carried(p *Prebuilt) (*Prebuilt, bool) {
	if p == nil {
		return nil, true
	}
	if p.serialAt == 0 {
		return b.intern(p), true
	}
	if q, ok := b.patched[p]; ok {
		return q, true
	}
	at := int(p.serialAt)
	if binary.BigEndian.Uint32(p.Body[at:]) != b.reuse.oldSerial {
		return nil, false
	}
	q := *p
	q.Body = slices.Clone(p.Body)
	binary.BigEndian.PutUint32(q.Body[at:], b.reuse.serial)
	q.sum = b.sum(&q)
	r := b.intern(&q)
	if b.patched == nil {
		b.patched = map[*Prebuilt]*Prebuilt{}
	}
	b.patched[p] = r
	return r, true
}

// wireName is wireName with b's scratch space: one allocation, the name.
func (b *builder) wireName(name string) (string, error) {
	if b.wire == nil {
		b.wire = make([]byte, maxNameWire+1)
	}
	return packName(b.wire, name)
}

func resultOf(ans zones.Answer) string {
	switch {
	case ans.Rcode == dns.RcodeNameError:
		return "nxdomain"
	case len(ans.Answer) > 0:
		return "answer"
	}
	return "nodata"
}

// wireName is the lower-case wire form of a presentation name.
func wireName(name string) (string, error) {
	return packName(make([]byte, maxNameWire+1), name)
}

// packName is wireName packed in buf (maxNameWire+1 bytes).
func packName(buf []byte, name string) (string, error) {
	n, err := dns.PackDomainName(dns.Fqdn(dnsname.Lower(name)), buf, 0, nil, false)
	if err != nil {
		return "", fmt.Errorf("name %q: %w", name, err)
	}
	return string(buf[:n]), nil
}

// ordinary reports whether a NODATA answer of a name holds for qtype: the
// data types, not meta types (OPT, TSIG, AXFR, ANY...), not DS (answered
// from the parent side at a cut) and not CNAME.
func ordinary(t uint16) bool {
	return !wire.IsMeta(t) && t != dns.TypeANY && t != dns.TypeCNAME && t != dns.TypeDS
}

// Lookup returns the precomputed response for q, or nil when the query
// must take the slow path.
func (a *Answers) Lookup(q *Query) *Prebuilt {
	if a == nil || q.QClass != classINET {
		return nil
	}
	name := q.Name()
	if !a.rootZone && !a.inTops(lastLabel(name)) {
		return nil // in no zone
	}
	// The closest enclosing served zone: the longest suffix that is one,
	// of those as long as some zone's origin.
	var t *zoneTable
	at := 0
	for off, k := 0, q.labels; off < len(name) && k >= 0; off, k = off+int(name[off])+1, k-1 {
		if a.depths[k/64]&(1<<(k%64)) == 0 {
			continue
		}
		if zt, ok := a.zones[string(name[off:])]; ok {
			t, at = zt, off
			break
		}
	}
	if t == nil {
		return nil
	}
	if oa, ok := t.owners[string(name)]; ok {
		if oa.slow {
			return nil
		}
		for i, ty := range oa.types {
			if ty == q.QType {
				return oa.answers[i]
			}
		}
		nodata := oa.nodata
		if oa.byLen {
			nodata = t.nodata[len(name)]
		}
		if nodata != nil && (ordinary(q.QType) || q.QType == dns.TypeCNAME) {
			return nodata
		}
		return nil
	}
	// Not a name of the zone: NXDOMAIN when nothing on the way up to its
	// origin (a cut, a forward rule, a wildcard at the closest encloser,
	// an existing ancestor) changes that.
	if q.QType == dns.TypeDS || !ordinary(q.QType) && q.QType != dns.TypeCNAME {
		return nil
	}
	first := true
	for off := int(name[0]) + 1; off <= at; off += int(name[off]) + 1 {
		suffix := name[off:]
		if oa, ok := t.owners[string(suffix)]; ok {
			if oa.slow {
				return nil
			}
			if first {
				// The closest encloser exists: a wildcard child would
				// synthesize the answer (left to the slow path).
				if t.hasWildcard(suffix) {
					return nil
				}
				first = false
			}
		}
		if off == at {
			if first && t.hasWildcard(suffix) {
				return nil
			}
			return t.nxdomain
		}
	}
	return nil
}

// maxTopList bounds Answers.topList: more compares than this cost about
// what one map lookup does.
const maxTopList = 8

// inTops reports whether top is the last label of some zone's origin.
func (a *Answers) inTops(top []byte) bool {
	if a.topList != nil {
		for _, t := range a.topList {
			if t == string(top) {
				return true
			}
		}
		return false
	}
	_, ok := a.tops[string(top)]
	return ok
}

// labelCount is the number of labels of the wire name w, the root's
// excluded.
func labelCount(w string) int {
	n := 0
	for off := 0; off < len(w) && w[off] != 0; off += int(w[off]) + 1 {
		n++
	}
	return n
}

// lastLabel returns the last label of the wire name w with the root's zero
// octet ("\x03com\x00" of www.example.com.), nil for the root name or a
// malformed w.
func lastLabel(w []byte) []byte {
	for off := 0; off < len(w); {
		l := int(w[off])
		next := off + 1 + l
		if l == 0 || next >= len(w) {
			return nil
		}
		if w[next] == 0 {
			return w[off : next+1]
		}
		off = next
	}
	return nil
}

// hasWildcard reports whether "*." + parent is an owner name of the zone.
func (t *zoneTable) hasWildcard(parent []byte) bool {
	var buf [maxNameWire + 2]byte
	if len(parent)+2 > len(buf) {
		return false
	}
	buf[0], buf[1] = 1, '*'
	n := 2 + copy(buf[2:], parent)
	_, ok := t.owners[string(buf[:n])]
	return ok
}

// v4Net is an IPv4 prefix as network and mask.
type v4Net struct{ net, mask uint32 }

// mayRecurse reports whether the client from may recurse under the
// answers' snapshot, as node.Snapshot.RecursionAllowed decides it: an
// IPv4 client (or an IPv4-mapped one, which RecursionAllowed unmaps) is
// checked against the IPv4 prefixes, an IPv6 one by RecursionAllowed.
func (a *Answers) mayRecurse(from *net.UDPAddr) bool {
	if from == nil {
		return false
	}
	if ip4 := from.IP.To4(); ip4 != nil {
		v := binary.BigEndian.Uint32(ip4)
		for _, n := range a.recursers4 {
			if v&n.mask == n.net {
				return true
			}
		}
		return false
	}
	return allowed(a.Snapshot, from)
}
