package fastpath

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"sync/atomic"
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/dnstap"
	"github.com/coredns/coredns/plugin/dnstap/msg"
	corelog "github.com/coredns/coredns/plugin/log"
	"github.com/coredns/coredns/request"
	tap "github.com/dnstap/golang-dnstap"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// Query logging that keeps the fast path. The block's log and dnstap
// plugins sit in the chain, so they see every answer the chain writes; the
// answers the fast path writes itself reach them through a queryLog: the
// read loop hands a sample (1 in log_sample answers, at random) to an
// observer, which copies it into a bounded queue and never blocks (a full
// queue drops the sample and counts it); one goroutine per block replays
// the queued answers through copies of the block's own log and dnstap
// handlers, so both see a fast-path answer as they see a chain answer: the
// same log line, the same dnstap CLIENT_QUERY and CLIENT_RESPONSE.

// logQueue is how many samples a block holds between the read loops and
// the replay, which takes them every replayEvery: 2 ms of 2 million
// answers a second, more than one core replays (about 130k log lines or
// 400k dnstap answers a second: BenchmarkReplay). Each sample keeps its
// buffer: memory stays at about logQueue times the largest sample.
const logQueue = 4096

// sampleBuf is the buffer a sample starts with (query and answer): the
// common internal answer fits; a larger one grows that sample's buffer once.
const sampleBuf = 512

// queryLog replays the fast path's answers of one server block into its
// log and dnstap plugins.
type queryLog struct {
	every uint32 // 1: every answer; N: 1 in N at random
	// logger is a copy of the block's log handler whose Next writes the
	// recorded answer; nil without log.
	logger plugin.Handler
	// taps are the block's dnstap handlers, in chain order (several
	// dnstap lines chain one after the other).
	taps    []*dnstap.Dnstap
	needReq bool // unpack the query (log, or a dnstap extra format)

	free  chan *sample // samples not in use: taking one never waits
	queue chan *sample // to the replay
	done  chan struct{}
	ticks atomic.Int64 // the replay's polls so far (tests: it parks when idle)
}

// sample is one fast-path answer waiting for its replay: its buffers are
// reused once replayed, so everything a plugin may keep is copied out.
type sample struct {
	buf    []byte // query, then answer
	qlen   int
	client net.UDPAddr
	ip     [16]byte // client.IP's storage
	local  net.Addr
	read   time.Time // the batch holding the query was read
	sent   time.Time // the answer was ready
}

// newQueryLog builds the replay into a block's log and dnstap handlers
// (dnsserver.Config.Handler; nil: not in the block); nil when there are
// neither. An error says one is of a type this build does not know:
// replaying into it is not possible, and the fast path must step aside so
// that every answer still reaches it.
func newQueryLog(logger, tapper plugin.Handler, every int) (*queryLog, error) {
	q := &queryLog{every: uint32(every)}
	if h := logger; h != nil {
		lg, ok := h.(corelog.Logger)
		if !ok {
			return nil, fmt.Errorf("the block's log handler is a %T, not CoreDNS's log", h)
		}
		lg.Next = plugin.HandlerFunc(writeRecorded)
		q.logger, q.needReq = lg, true
	}
	// dnsserver registers the first of several dnstap handlers; each one's
	// Next is the following one (CoreDNS's dnstap setup), then the rest of
	// the chain. Bounded by the chain's length.
	for h := tapper; h != nil; {
		d, ok := h.(*dnstap.Dnstap)
		if !ok {
			if len(q.taps) == 0 {
				return nil, fmt.Errorf("the block's dnstap handler is a %T, not CoreDNS's dnstap", h)
			}
			break
		}
		q.taps = append(q.taps, d)
		q.needReq = q.needReq || d.ExtraFormat != ""
		h = d.Next
	}
	if q.logger == nil && len(q.taps) == 0 {
		return nil, nil
	}
	q.free = make(chan *sample, logQueue)
	q.queue = make(chan *sample, logQueue)
	q.done = make(chan struct{})
	slab := make([]byte, logQueue*sampleBuf)
	for i := range logQueue {
		q.free <- &sample{buf: slab[i*sampleBuf : i*sampleBuf : (i+1)*sampleBuf]}
	}
	return q, nil
}

// observer is the fastpath.Observer of one listener.
type observer struct {
	q       *queryLog
	local   net.Addr // the listener's address
	dropped prometheus.Counter
}

// Observe implements fastpath.Observer: it runs in the read loop, so it
// only samples and copies; it never waits.
func (o *observer) Observe(query, answer []byte, client *net.UDPAddr, read time.Time) {
	q := o.q
	if q.every > 1 && rand.Uint32N(q.every) != 0 {
		return
	}
	var s *sample
	select {
	case s = <-q.free:
	default:
		o.dropped.Inc() // the replay is behind: drop, never block the answers
		return
	}
	s.buf = append(append(s.buf[:0], query...), answer...)
	s.qlen = len(query)
	s.client = net.UDPAddr{IP: s.ip[:copy(s.ip[:], client.IP)], Port: client.Port, Zone: client.Zone}
	s.local = o.local
	s.read, s.sent = read, time.Now()
	q.queue <- s // never waits: there are no more samples than it holds
}

// replayEvery is how often the replay takes what the read loops queued.
// Polling, rather than waiting on the queue, keeps the read loops from
// waking the replay goroutine for each sample: a wake-up costs the
// answer path far more than the copy (BenchmarkObserve).
const replayEvery = 2 * time.Millisecond

// idleTicks is how many ticks in a row may find the queue empty before the
// replay stops polling and waits on the queue itself: an idle node should
// not wake 500 times a second for a log nobody writes to. The first sample
// after that costs the read loop one wake-up, then polling resumes.
const idleTicks = 50

// run replays samples until stop; then it replays what is still queued.
func (q *queryLog) run() {
	t := time.NewTicker(replayEvery)
	defer t.Stop()
	idle := 0
	for {
		select {
		case <-t.C:
			q.ticks.Add(1)
			if q.drain() > 0 {
				idle = 0
				continue
			}
			if idle++; idle < idleTicks {
				continue
			}
			t.Stop()
			select {
			case s := <-q.queue:
				q.replayFree(s)
			case <-q.done:
				q.drain()
				return
			}
			idle = 0
			t.Reset(replayEvery)
		case <-q.done:
			q.drain()
			return
		}
	}
}

// drain replays what is queued now and says how many it replayed.
// Bounded: at most logQueue samples exist, and new ones wait for the next
// tick once it has taken as many.
func (q *queryLog) drain() int {
	for n := range logQueue {
		select {
		case s := <-q.queue:
			q.replayFree(s)
		default:
			return n
		}
	}
	return logQueue
}

// replayFree replays s and gives its buffers back to the read loops.
func (q *queryLog) replayFree(s *sample) {
	q.replay(s)
	q.free <- s
}

// stop ends run once the queued samples are replayed. The read loops must
// have stopped: a sample observed later is never replayed.
func (q *queryLog) stop() { close(q.done) }

// replay hands one fast-path answer to the block's dnstap handlers and log
// handler, as the chain would have.
func (q *queryLog) replay(s *sample) {
	query, answer := s.buf[:s.qlen], s.buf[s.qlen:]
	// dnstap encodes its messages on its own goroutine, later: nothing it
	// holds may point into the sample.
	client := &net.UDPAddr{IP: bytes.Clone(s.client.IP), Port: s.client.Port, Zone: s.client.Zone}
	w := &replayWriter{local: s.local, remote: client}
	var req *dns.Msg
	if q.needReq {
		req = new(dns.Msg)
		if err := req.Unpack(query); err != nil {
			return // the fast path answered it, so it parsed: never here
		}
	}
	for _, d := range q.taps {
		tapAnswer(d, w, req, query, answer, s.read, s.sent)
	}
	if q.logger == nil {
		return
	}
	resp := new(dns.Msg)
	if err := resp.Unpack(answer); err != nil {
		return
	}
	// The size the log line gives is the message's Len: compressed, as
	// the fast path's answers are on the wire.
	resp.Compress = true
	q.logger.ServeDNS(&replayCtx{Context: context.Background(), answer: resp}, w, req)
}

// tapAnswer sends the CLIENT_QUERY and CLIENT_RESPONSE messages of one
// fast-path answer, as CoreDNS's dnstap handler does for the chain's
// (plugin/dnstap: tapQuery in handler.go, tapResponse in writer.go), with
// the fast path's times (the query's read, the answer's writing) and,
// when the handler includes messages (`full`), the octets that were on the
// wire rather than a repacked message.
func tapAnswer(d *dnstap.Dnstap, w dns.ResponseWriter, req *dns.Msg, query, answer []byte, read, sent time.Time) {
	state := request.Request{W: w, Req: req}
	qm := new(tap.Message)
	msg.SetQueryTime(qm, read)
	msg.SetQueryAddress(qm, w.RemoteAddr())
	if d.IncludeRawMessage {
		qm.QueryMessage = bytes.Clone(query)
	}
	msg.SetType(qm, tap.Message_CLIENT_QUERY)
	d.TapMessageWithMetadata(context.Background(), qm, state)

	rm := new(tap.Message)
	msg.SetQueryTime(rm, read)
	msg.SetResponseTime(rm, sent)
	msg.SetQueryAddress(rm, w.RemoteAddr())
	if d.IncludeRawMessage {
		rm.ResponseMessage = bytes.Clone(answer)
	}
	msg.SetType(rm, tap.Message_CLIENT_RESPONSE)
	d.TapMessageWithMetadata(context.Background(), rm, state)
}

// recordedKey is the context key of the recorded answer.
type recordedKey struct{}

// replayCtx carries the recorded answer to writeRecorded, past the log
// handler (a context.WithValue without its allocation).
type replayCtx struct {
	context.Context
	answer *dns.Msg
}

func (c *replayCtx) Value(key any) any {
	if _, ok := key.(recordedKey); ok {
		return c.answer
	}
	return c.Context.Value(key)
}

// writeRecorded is the Next of the replayed log handler: it writes the
// answer the fast path sent (the replay writer drops it: it is out already).
func writeRecorded(ctx context.Context, w dns.ResponseWriter, _ *dns.Msg) (int, error) {
	answer, ok := ctx.Value(recordedKey{}).(*dns.Msg)
	if !ok {
		return dns.RcodeServerFailure, fmt.Errorf("fastpath replay without a recorded answer")
	}
	w.WriteMsg(answer)
	return answer.Rcode, nil
}

// replayWriter is the ResponseWriter of a replayed answer: the addresses
// of the exchange (UDP), nothing written anywhere.
type replayWriter struct {
	local, remote net.Addr
}

func (w *replayWriter) LocalAddr() net.Addr         { return w.local }
func (w *replayWriter) RemoteAddr() net.Addr        { return w.remote }
func (w *replayWriter) WriteMsg(*dns.Msg) error     { return nil }
func (w *replayWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *replayWriter) Close() error                { return nil }
func (w *replayWriter) TsigStatus() error           { return nil }
func (w *replayWriter) TsigTimersOnly(bool)         {}
func (w *replayWriter) Hijack()                     {}
