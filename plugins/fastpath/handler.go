// Package fastpath is the CoreDNS plugin that puts the UDP fast path
// (package fastpath: batched sockets, precomputed internal-zone answers, a
// packet cache) in front of the server block's plugin chain. It does not
// sit in the chain: it opens its own SO_REUSEPORT sockets on the block's
// addresses before CoreDNS does, steers every UDP datagram to them, answers
// what it can from precomputed wire responses, and hands the rest to
// CoreDNS's own server (dnsserver.Server.ServeDNS, the same entry point a
// datagram on CoreDNS's socket takes), learning cacheable recursive answers
// on the way out. It takes TCP the same way (one listener steered ahead of
// CoreDNS's) and runs the chain for each query of a connection
// concurrently, within bounds on connections (fastpath.TCPServer). The
// answers it writes itself are replayed into the block's log and dnstap
// (querylog.go), so query logging keeps the fast path on.
package fastpath

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/cluster/model"
	"github.com/gitops-dns/resolverd/fastpath"
	"github.com/gitops-dns/resolverd/fastpath/udpio"
	"github.com/gitops-dns/resolverd/internal/wire"
	"github.com/gitops-dns/resolverd/node"
	"github.com/gitops-dns/resolverd/plugins/internal/reqmetrics"
	"github.com/gitops-dns/resolverd/plugins/internal/vars"
)

// Plugin is one server block's fast path.
type Plugin struct {
	cfg   Config
	src   node.Source
	cache *fastpath.PacketCache

	mu        sync.Mutex
	listeners map[string]*listener // by address as CoreDNS spells it
	qlog      *queryLog            // nil: no log or dnstap in the block, or log_sample 0
}

// listener is the fast path of one address of the block.
type listener struct {
	addr    string // "127.0.0.1:53"
	server  string // "dns://127.0.0.1:53": the metrics' server label
	group   *udpio.Group
	fp      *fastpath.Server
	tln     net.Listener
	tcp     *fastpath.TCPServer
	chain   atomic.Pointer[dnsserver.Server]
	serving sync.Once
}

func newPlugin(cfg Config, src node.Source) *Plugin {
	p := &Plugin{cfg: cfg, src: src, listeners: map[string]*listener{}}
	if cfg.CacheSize > 0 {
		p.cache = fastpath.NewPacketCache(cfg.CacheSize)
	}
	return p
}

// start opens the sockets of every address of the block. It runs before
// CoreDNS binds its own (caddy's OnStartup), so ours come first in the
// kernel's SO_REUSEPORT group and the steering program picks only ours.
func (p *Plugin) start(dc *dnsserver.Config) error {
	var qlog *queryLog
	if p.cfg.LogSample > 0 {
		var err error
		if qlog, err = newQueryLog(dc.Handler("log"), dc.Handler("dnstap"), p.cfg.LogSample); err != nil {
			log.Warningf("disabled: %v, and query logging needs every answer to reach it", err)
			return nil
		}
	}
	if dc.Port == "0" {
		log.Warning("disabled: port 0 cannot be shared with CoreDNS's socket")
		return nil
	}
	addrs, err := listenAddrs(dc)
	if err != nil {
		return err
	}
	counted := dc.Handler("prometheus") != nil
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, addr := range addrs {
		g, err := udpio.Listen(addr, udpio.Options{Sockets: p.cfg.Sockets, RecvBuffer: p.cfg.RecvBuffer})
		if err != nil {
			p.closeLocked()
			return err
		}
		// TCP too: CoreDNS's TCP server answers a connection's queries one
		// after the other (a slow one holds up the rest) and bounds
		// neither connections nor clients.
		tln, err := fastpath.ListenTCP(addr)
		if err != nil {
			g.Close()
			p.closeLocked()
			return err
		}
		l := &listener{addr: addr, server: dc.Transport + "://" + addr, group: g, tln: tln}
		l.tcp = &fastpath.TCPServer{
			Handler: l.serveTCP,
			Options: p.cfg.TCP,
			Refused: tcpClosedTotal.WithLabelValues(l.server, "refused").Inc,
			Evicted: tcpClosedTotal.WithLabelValues(l.server, "evicted").Inc,
		}
		var m fastpath.Metrics
		if counted {
			m = newFastMetrics(l.server, ".")
		}
		l.fp = &fastpath.Server{
			Source:  p.src.Snapshot,
			Cache:   p.cache,
			Slow:    l.slow,
			Metrics: m,
			MaxSlow: p.cfg.MaxSlow,
			BuildFailed: func(snap *node.Snapshot, err error) {
				rev := "(none)"
				if snap != nil && snap.Revision != nil {
					rev = model.ShortID(snap.Revision.ID)
				}
				log.Errorf("%s: revision %s is served through the plugin chain only: %v", addr, rev, err)
			},
			Build: fastpath.BuildOptions{
				MaxRecords: p.cfg.MaxRecords,
				Counter: func(zone, result string) fastpath.Counter {
					return vars.AuthorityAnswers.WithLabelValues(l.server, zone, result)
				},
			},
		}
		if qlog != nil {
			local, _ := net.ResolveUDPAddr("udp", addr) // resolved by listenAddrs
			l.fp.Observer = &observer{q: qlog, local: local, dropped: logDroppedTotal.WithLabelValues(l.server)}
		}
		p.listeners[addr] = l
		recvBuffer.WithLabelValues(l.server).Set(float64(g.RecvBuffer()))
		log.Infof("%s: %d socket(s), receive buffer %d bytes, packet cache %d entries", addr, len(g.Conns()), g.RecvBuffer(), p.cfg.CacheSize)
	}
	if qlog != nil {
		p.qlog = qlog
		go qlog.run()
		log.Infof("log and dnstap see 1 in %d of the answers the fast path sends itself (log_sample), and every answer of the chain", p.cfg.LogSample)
	}
	go p.gauges()
	return nil
}

// serverReady is called by CoreDNS as it starts serving UDP on an address:
// from then on the slow path has a server to run, and the loops start.
func (p *Plugin) serverReady(s *dnsserver.Server) {
	addr := strings.TrimPrefix(s.Addr, "dns://")
	p.mu.Lock()
	l := p.listeners[addr]
	p.mu.Unlock()
	if l == nil {
		return
	}
	l.chain.Store(s)
	l.serving.Do(func() {
		for _, c := range l.group.Conns() {
			go l.fp.Serve(c)
		}
		go l.tcp.Serve(l.tln)
	})
}

// drainDeadline bounds how long a shutdown waits for the queries in flight
// (CoreDNS gives its own servers 5 s to stop gracefully).
const drainDeadline = 5 * time.Second

// stop drains, then closes: it stops reading datagrams and accepting
// connections, answers the queries in flight (bounded by drainDeadline),
// then closes every socket. Closing at once dropped every UDP query waiting
// on an upstream at SIGTERM (issue 17).
func (p *Plugin) stop() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.listeners {
		l.group.StopReading()
		l.tcp.StopAccepting()
	}
	deadline := time.Now().Add(drainDeadline)
	for {
		busy := 0
		for _, l := range p.listeners {
			busy += l.fp.InFlight() + l.tcp.InFlight()
		}
		if busy == 0 {
			break
		}
		if time.Now().After(deadline) {
			log.Warningf("shutdown: %d queries still in flight after %s: closing", busy, drainDeadline)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.closeLocked()
	return nil
}

func (p *Plugin) closeLocked() {
	for addr, l := range p.listeners {
		l.group.Close()
		l.tln.Close()
		l.tcp.Close()
		delete(p.listeners, addr)
	}
	if p.qlog != nil {
		p.qlog.stop()
		p.qlog = nil
	}
}

// slow runs the chain for one query, as CoreDNS's own UDP server would:
// the same header checks (miekg's default accept function), the same
// context values, dnsserver.Server.ServeDNS.
func (l *listener) slow(c *udpio.Conn, pkt []byte, from *net.UDPAddr, q *fastpath.Query, gen uint64) {
	srv := l.chain.Load()
	if srv == nil || len(pkt) < 12 {
		return
	}
	dh := wireHeader(pkt)
	// Everything the chain may still hold after ServeDNS returned (the
	// fallback plugin lets a slow chain finish in the background): one
	// allocation per query, never reused; pkt, from and q are the fast
	// path's and are reused once we return.
	cl := &call{}
	cl.from = net.UDPAddr{IP: cl.ip[:copy(cl.ip[:], from.IP)], Port: from.Port, Zone: from.Zone}
	w := &cl.w
	snap := l.fp.Source()
	ip, _ := netip.AddrFromSlice(from.IP)
	*w = responseWriter{c: c, from: &cl.from, l: l, gen: gen, verdict: &cl.ctx.verdict, sizes: &cl.ctx.sizes, snap: snap, ra: mayRecurse(snap, ip)}
	if q != nil {
		cl.q = *q
		w.q = &cl.q
	}
	switch acceptHeader(dh) {
	case dns.MsgIgnore:
		return
	case dns.MsgReject:
		w.reject(dh, nil, dns.RcodeFormatError)
		return
	case dns.MsgRejectNotImplemented:
		w.reject(dh, nil, dns.RcodeNotImplemented)
		return
	}
	r := &cl.msg
	if q == nil || !cl.fromWire(pkt, dh) {
		if err := r.Unpack(pkt); err != nil {
			w.reject(dh, r.Question, dns.RcodeFormatError)
			return
		}
	}
	if resp := checkQuery(r); resp != nil {
		w.WriteMsg(resp)
		return
	}
	cl.ctx.Context, cl.ctx.srv = context.Background(), srv
	cl.ctx.sizes.Req = len(pkt)
	srv.ServeDNS(&cl.ctx, w, r)
}

// call is one slow-path query.
type call struct {
	ctx  queryCtx
	w    responseWriter
	msg  dns.Msg
	q    fastpath.Query
	from net.UDPAddr
	ip   [16]byte // from.IP's storage
	// The request's sections when fromWire built it.
	question [1]dns.Question
	opt      dns.OPT
	extra    [1]dns.RR
}

// fromWire builds cl.msg from a query the fast path parsed (cl.q: one
// question without compression pointers, no answer or authority records,
// at most an OPT record of version 0 and nothing after it) as
// dns.Msg.Unpack would, with one allocation (the name) instead of one per
// section and record. It declines (false) when the OPT record carries
// options: Unpack reads those.
func (cl *call) fromWire(pkt []byte, dh dns.Header) bool {
	q := &cl.q
	const optFixed = 11 // owner (root), type, class, ttl, rdlength
	if q.EDNS && len(pkt) != q.QEnd+optFixed {
		return false
	}
	name, _, err := dns.UnpackDomainName(pkt, 12)
	if err != nil {
		return false
	}
	r := &cl.msg
	r.MsgHdr = msgHdr(dh)
	cl.question[0] = dns.Question{Name: name, Qtype: q.QType, Qclass: q.QClass}
	r.Question = cl.question[:1:1]
	if q.EDNS {
		o := pkt[q.QEnd:]
		cl.opt.Hdr = dns.RR_Header{
			Name:   ".",
			Rrtype: dns.TypeOPT,
			Class:  binary.BigEndian.Uint16(o[3:]),
			Ttl:    binary.BigEndian.Uint32(o[5:]),
		}
		cl.extra[0] = &cl.opt
		r.Extra = cl.extra[:1:1]
		r.Rcode |= cl.opt.ExtendedRcode()
	}
	return true
}

// queryCtx is the context of one slow-path query: the values CoreDNS's own
// server puts in it (the server, the loop count 0), the fast path's verdict
// and the sizes on the wire the request metrics take (instead of packing
// the response once more to measure it), answered without a
// context.WithValue (an allocation) each.
type queryCtx struct {
	context.Context // Background: no deadline, never done
	srv             *dnsserver.Server
	verdict         node.Verdict
	sizes           reqmetrics.Sizes
}

func (c *queryCtx) Value(key any) any {
	switch key.(type) {
	case dnsserver.Key:
		return c.srv
	case dnsserver.LoopKey:
		return 0
	case node.VerdictKey:
		return &c.verdict
	case reqmetrics.SizesKey:
		return &c.sizes
	}
	return c.Context.Value(key)
}

// responseWriter sends the chain's response from the socket the query came
// in on, and offers it to the packet cache.
type responseWriter struct {
	c    *udpio.Conn
	from *net.UDPAddr
	l    *listener
	q    *fastpath.Query
	gen  uint64
	// verdict is the chain's say on caching the response.
	verdict *node.Verdict
	// sizes adds up the bytes sent, for the request metrics.
	sizes *reqmetrics.Sizes
	// snap is the snapshot served when the query arrived; ra whether the
	// client may recurse under it (the RA bit of every response).
	snap *node.Snapshot
	ra   bool
}

func (w *responseWriter) LocalAddr() net.Addr  { return w.c.LocalAddr() }
func (w *responseWriter) RemoteAddr() net.Addr { return w.from }
func (w *responseWriter) Close() error         { return nil }
func (w *responseWriter) TsigStatus() error    { return nil }
func (w *responseWriter) TsigTimersOnly(bool)  {}
func (w *responseWriter) Hijack()              {}

func (w *responseWriter) WriteMsg(m *dns.Msg) error {
	explainServfail(m, w.snap)
	bp := packBuffers.Get().(*[]byte)
	defer packBuffers.Put(bp)
	b, err := m.PackBuffer((*bp)[:cap(*bp)])
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// packBuffers hold responses from WriteMsg to the send; a response larger
// than one gets a buffer of its own from miekg/dns.
var packBuffers = sync.Pool{New: func() any {
	b := make([]byte, 4096)
	return &b
}}

func (w *responseWriter) Write(b []byte) (int, error) {
	setRA(b, w.ra)
	if err := w.c.WriteTo(b, w.from); err != nil {
		return 0, err
	}
	w.sizes.Resp += len(b)
	w.l.fp.Learn(w.q, w.from, b, w.gen, w.verdict)
	return len(b), nil
}

// msgHdr is the dns.MsgHdr of a wire header, field for field as
// dns.Msg.Unpack (and miekg's server before it rejects a query) sets it.
func msgHdr(dh dns.Header) dns.MsgHdr { return wire.MsgHdr(dh.Id, dh.Bits) }

// rejectMsg is the answer to a query the server does not accept, as miekg's
// server (CoreDNS's own sockets) gives it: the query's header with QR set, AA and
// Z cleared, the rcode, the opcode kept for NOTIMP and QUERY for FORMERR;
// the question when it could be read (a query that failed to unpack past
// it), no other section.
func rejectMsg(dh dns.Header, question []dns.Question, rcode int) *dns.Msg {
	m := &dns.Msg{MsgHdr: msgHdr(dh), Question: question}
	m.Response, m.Authoritative, m.Zero = true, false, false
	if rcode != dns.RcodeNotImplemented {
		m.Opcode = dns.OpcodeQuery
	}
	m.Rcode = rcode
	return m
}

// reject sends rejectMsg to the client.
func (w *responseWriter) reject(dh dns.Header, question []dns.Question, rcode int) {
	if b, err := rejectMsg(dh, question, rcode).Pack(); err == nil {
		setRA(b, w.ra)
		w.c.WriteTo(b, w.from)
	}
}
