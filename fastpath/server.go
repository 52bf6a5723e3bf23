package fastpath

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gitops-dns/resolverd/fastpath/udpio"
	"github.com/gitops-dns/resolverd/internal/gcpace"
	"github.com/gitops-dns/resolverd/internal/wire"
	"github.com/gitops-dns/resolverd/node"
)

// Path says which way a response went.
type Path int

const (
	PathPrebuilt Path = iota // a precomputed internal-zone answer
	PathCache                // the packet cache
	PathSlow                 // the plugin chain
)

func (p Path) String() string {
	switch p {
	case PathPrebuilt:
		return "prebuilt"
	case PathCache:
		return "packetcache"
	}
	return "chain"
}

// Response describes one response the fast path sent itself.
type Response struct {
	Path              Path
	QType             uint16
	DO                bool
	Rcode             int
	ReqSize, RespSize int
	Family            int // 1 IPv4, 2 IPv6, as CoreDNS's metrics label it
}

// Metrics receives the responses the fast path sends itself (the chain
// counts its own), one call per batch just before it is written, so that a
// client holding an answer can always find it counted (a scrape right after
// an answer used to miss it); dur is the batch's time from read to the
// write. Implementations must be cheap: this is
// per query (one call per batch lets them lock or share once per batch).
type Metrics interface {
	Answered(rs []Response, dur time.Duration)
	// Dropped counts queries dropped because too many were already in the
	// slow path.
	Dropped()
}

// Observer hears the answers the fast path sends itself, for query logging
// (the chain's answers reach the block's log and dnstap on their way out).
// Observe runs in the read loop, once per answer, before the batch is
// written: it must not block, and must copy what it keeps (query, answer
// and client are the loop's buffers, reused for the next batch). read is
// when the batch holding the query was read.
type Observer interface {
	Observe(query, answer []byte, client *net.UDPAddr, read time.Time)
}

// SlowPath runs the full chain for one query: pkt is the query, from the
// client, c the socket to answer on. q is the parsed query or nil when it
// did not parse; gen is the packet cache generation when the query started
// (for Server.Learn). pkt, from and q are the server's and are reused once
// the call returns: the callee copies whatever it keeps longer (a plugin
// chain may go on in the background after it answered).
type SlowPath func(c *udpio.Conn, pkt []byte, from *net.UDPAddr, q *Query, gen uint64)

// Server is the read-answer-write loop over a socket group.
type Server struct {
	// Source is the served snapshot: the Snapshot method of the server
	// block's node.Source. The fast path only answers from answers built
	// for exactly that snapshot.
	Source func() *node.Snapshot
	// Cache may be nil (no packet cache).
	Cache *PacketCache
	Slow  SlowPath
	// Metrics may be nil.
	Metrics Metrics
	// Observer may be nil (no query logging): the loop then tests one
	// pointer per answer.
	Observer Observer
	// MaxSlow bounds the queries in the slow path at once (default 10000);
	// beyond it queries are dropped, as a full socket buffer would.
	MaxSlow int
	// Build options for the precomputed answers.
	Build BuildOptions
	// Batch is how many datagrams one read takes at most (default 64).
	Batch int
	// BuildFailed, if set, hears why a revision's answers could not be
	// precomputed (its queries then all take the slow path).
	BuildFailed func(snap *node.Snapshot, err error)

	answers  atomic.Pointer[Answers]
	building atomic.Bool
	slots    chan struct{}
	jobs     chan *slowJob // to an idle worker; nil: exit
	workers  atomic.Int32  // worker goroutines running
	idle     atomic.Int32  // workers waiting for a job
	lowIdle  atomic.Int32  // fewest idle workers since the reaper last looked
	reaping  atomic.Bool   // the reaper runs
	// idleAfter is workerIdle (tests shorten it).
	idleAfter time.Duration
	once      sync.Once
}

func (s *Server) init() {
	s.once.Do(func() {
		if s.MaxSlow <= 0 {
			s.MaxSlow = 10000
		}
		if s.Batch <= 0 {
			s.Batch = 64
		}
		s.slots = make(chan struct{}, s.MaxSlow)
		s.jobs = make(chan *slowJob)
	})
}

// Answers returns the precomputed answers of the served snapshot, or nil
// while they are being built (everything takes the slow path meanwhile:
// answers are never mixed across revisions).
func (s *Server) Answers() *Answers {
	snap := s.Source()
	a := s.answers.Load()
	if a != nil && a.Snapshot == snap {
		return a
	}
	if snap != nil && s.building.CompareAndSwap(false, true) {
		go s.rebuild()
	}
	return nil
}

// prepare builds the answers of snap and purges the packet cache: the
// packet cache's generation moves with the answers, so no entry learnt
// under an older revision is served with the new one. A revision whose
// answers cannot be precomputed (a record that does not pack) gets an
// empty table: the slow path serves it.
func (s *Server) prepare(snap *node.Snapshot) {
	prev := s.answers.Load()
	if prev != nil && prev.Snapshot == snap {
		return
	}
	// The first answers are all that will be live, and all of them are
	// allocated now: the collector runs more often meanwhile (issue 21: the
	// first apply's peak RSS). Later builds allocate little against the
	// live heap; a tighter pace would only cost the queries meanwhile.
	if prev == nil {
		defer gcpace.Build()()
	}
	// The zones the new revision shares with the previous one keep their
	// tables: only what changed is built.
	a, err := BuildFrom(prev, snap, s.Build)
	if err != nil {
		if s.BuildFailed != nil {
			s.BuildFailed(snap, err)
		}
		a = &Answers{Snapshot: snap}
	}
	if s.Cache != nil {
		s.Cache.Purge()
	}
	s.answers.Store(a)
}

// rebuild prepares the served snapshot until it stops changing. Answers
// starts it and the building flag keeps it the only one running.
func (s *Server) rebuild() {
	defer s.building.Store(false)
	for {
		snap := s.Source()
		s.prepare(snap)
		if s.Source() == snap {
			return
		}
	}
}

// Learn offers the chain's response to a query to the packet cache; the
// slow path calls it for every response it sends over UDP, with the verdict
// the chain left in the query's context (see node.Verdict).
func (s *Server) Learn(q *Query, from *net.UDPAddr, resp []byte, gen uint64, v *node.Verdict) {
	if s.Cache == nil || q == nil || !q.RD() || !v.Cacheable() {
		return
	}
	if snap := s.Source(); snap == nil || !allowed(snap, from) {
		return
	}
	s.Cache.Store(q, resp, gen)
}

// Serve answers on c until it is closed or stops reading
// (udpio.Group.StopReading).
func (s *Server) Serve(c *udpio.Conn) error {
	s.init()
	in := make([]udpio.Message, s.Batch)
	out := make([]udpio.Message, s.Batch)
	for i := range in {
		in[i].Buf = make([]byte, 4096)
		out[i].Buf = make([]byte, 4096)
	}
	done := make([]Response, s.Batch)
	var q Query
	batch := func(in []udpio.Message) bool {
		n := len(in)
		start := time.Now()
		answers := s.Answers()
		k := 0
		for i := 0; i < n; i++ {
			m := &in[i]
			pkt := m.Buf[:m.N]
			if !q.Parse(pkt) {
				s.slow(c, pkt, m.Addr, nil)
				continue
			}
			o := &out[k]
			size, rcode, path, ok := s.answer(o.Buf, pkt, &q, answers, m.Addr)
			if !ok {
				s.slow(c, pkt, m.Addr, &q)
				continue
			}
			o.N, o.Addr = size, m.Addr
			if s.Observer != nil {
				s.Observer.Observe(pkt, o.Buf[:size], m.Addr, start)
			}
			done[k] = Response{Path: path, QType: q.QType, DO: q.DO, Rcode: rcode, ReqSize: m.N, RespSize: size, Family: family(m.Addr)}
			k++
		}
		if k == 0 {
			return true
		}
		if s.Metrics != nil {
			s.Metrics.Answered(done[:k], time.Since(start))
		}
		c.WriteBatch(out[:k])
		return true
	}
	for {
		err := c.ReadEach(in, batch)
		if errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) {
			return nil
		}
		time.Sleep(time.Millisecond) // a transient error: do not spin
	}
}

// answer writes the response to q into dst from the precomputed answers
// (nil: none for the served revision) or, for a client allowed to recurse,
// from the packet cache; false when the chain must answer.
func (s *Server) answer(dst, pkt []byte, q *Query, answers *Answers, from *net.UDPAddr) (size, rcode int, path Path, ok bool) {
	if p := answers.Lookup(q); p != nil {
		if size, ok := p.Write(dst, pkt, q); ok {
			// The precomputed answer is shared by every client; RA is not:
			// it says whether this client may recurse here (RFC 1035
			// 4.1.1), so it is set per response, as the chain's answers
			// get it (a few integer compares, no allocation).
			if answers.mayRecurse(from) {
				dst[3] |= byte(wire.FlagRA) // the low byte of the flags word
			}
			if p.Counted != nil {
				p.Counted.Inc()
			}
			return size, p.Rcode(), PathPrebuilt, true
		}
	}
	if s.Cache != nil && answers != nil && q.RD() && answers.mayRecurse(from) {
		if size, rcode, ok := s.Cache.Write(dst, pkt, q); ok {
			return size, rcode, PathCache, true
		}
	}
	return 0, 0, PathSlow, false
}

func family(a *net.UDPAddr) int {
	if a != nil && a.IP.To4() == nil {
		return 2
	}
	return 1
}

func allowed(snap *node.Snapshot, a *net.UDPAddr) bool {
	if a == nil {
		return false
	}
	ip, ok := netip.AddrFromSlice(a.IP)
	return ok && snap.RecursionAllowed(ip)
}

// InFlight reports the queries handed to the slow path and not answered
// yet: what a shutdown waits for.
func (s *Server) InFlight() int {
	s.init()
	return len(s.slots)
}

// slow hands a query to the chain on a worker, bounded by MaxSlow; pkt
// and from are copied (the read buffers are reused) into a pooled job.
func (s *Server) slow(c *udpio.Conn, pkt []byte, from *net.UDPAddr, q *Query) {
	if from == nil {
		return // no one to answer
	}
	select {
	case s.slots <- struct{}{}:
	default:
		if s.Metrics != nil {
			s.Metrics.Dropped()
		}
		return
	}
	j := jobPool.Get().(*slowJob)
	j.c = c
	if s.Cache != nil {
		j.gen = s.Cache.Generation()
	}
	if len(pkt) <= len(j.buf) {
		j.pkt = append(j.buf[:0], pkt...)
	} else {
		j.pkt = append([]byte(nil), pkt...)
	}
	j.parsed = q != nil
	if j.parsed {
		j.q = *q
	}
	j.from = net.UDPAddr{IP: j.ip[:copy(j.ip[:], from.IP)], Port: from.Port, Zone: from.Zone}
	select {
	case s.jobs <- j: // an idle worker takes it
	default:
		s.workers.Add(1)
		if s.reaping.CompareAndSwap(false, true) {
			go s.reap()
		}
		go s.worker(j)
	}
}

// slowJob is one query handed to the chain. Jobs are pooled: a job's
// fields are only valid while SlowPath runs on it.
type slowJob struct {
	c      *udpio.Conn
	pkt    []byte // buf[:len] unless the query is larger
	buf    [512]byte
	parsed bool // q holds the parsed query
	q      Query
	from   net.UDPAddr
	ip     [16]byte // from.IP's storage
	gen    uint64
}

var jobPool = sync.Pool{New: func() any { return new(slowJob) }}

// run runs the chain on j and returns j to the pool.
func (j *slowJob) run(slow SlowPath) {
	var q *Query
	if j.parsed {
		q = &j.q
	}
	slow(j.c, j.pkt, &j.from, q, j.gen)
	j.c, j.pkt, j.gen = nil, nil, 0
	j.from = net.UDPAddr{}
	jobPool.Put(j)
}

// workerIdle is how long a slow-path worker may stay idle before the
// reaper ends it (it ends between one and two such periods).
const workerIdle = time.Second

// worker runs slow-path queries until the reaper hands it nil. Workers are
// reused rather than started per query: the chain is deep, and a fresh
// goroutine grows (copies) its stack on every query — a tenth of the CPU
// of cold recursion before this. Waiting for the next job is a plain
// channel receive: an idle timer reset per query and a select cost 3% of
// cold-recursion CPU.
func (s *Server) worker(j *slowJob) {
	for {
		j.run(s.Slow)
		<-s.slots
		s.idle.Add(1)
		j = <-s.jobs
		// The low-water mark is approximate (load and store are not one
		// step): at worst a worker used in the period is ended.
		if n := s.idle.Add(-1); n < s.lowIdle.Load() {
			s.lowIdle.Store(n)
		}
		if j == nil {
			s.workers.Add(-1)
			return
		}
	}
}

// reap ends, every idle period, as many workers as stayed idle for all of
// it; it returns once no worker is left.
func (s *Server) reap() {
	period := s.idleAfter
	if period <= 0 {
		period = workerIdle
	}
	t := time.NewTicker(period)
	defer t.Stop()
	s.lowIdle.Store(s.idle.Load())
	for range t.C {
		for k := s.lowIdle.Load(); k > 0; k-- {
			select {
			case s.jobs <- nil:
			default:
				k = 0 // none idle after all
			}
		}
		s.lowIdle.Store(s.idle.Load())
		if s.workers.Load() > 0 {
			continue
		}
		s.reaping.Store(false)
		// A worker started after the check above found the reaper still
		// running and did not start another: take over if so.
		if s.workers.Load() == 0 || !s.reaping.CompareAndSwap(false, true) {
			return
		}
	}
}
