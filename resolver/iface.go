package resolver

import (
	"context"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Transport sends one query to one server and returns its reply. network is
// "udp" or "tcp". Implementations must honour ctx's deadline. The resolver
// checks the reply's id and question itself, so a transport may return
// whatever it received.
type Transport interface {
	Exchange(ctx context.Context, network string, server netip.AddrPort, m *dns.Msg) (*dns.Msg, error)
}

// Metrics receives the resolver's events; plugins/recursor maps them to
// Prometheus. Methods are called on hot paths and must be cheap and safe for
// concurrent use.
type Metrics interface {
	CacheHit()
	CacheMiss()
	StaleServed()
	// UpstreamQuery counts one message sent to server over network.
	UpstreamQuery(server netip.AddrPort, network string)
	UpstreamTimeout(server netip.AddrPort)
	// UpstreamRTT is the measured round trip of one exchange; forward tells
	// a forward target from an iteratively-asked authority.
	UpstreamRTT(server netip.AddrPort, forward bool, rtt time.Duration)
	// BudgetExhausted: which is "sends", "cname", "nslookups", "deadline",
	// "inflight" (resolutions in flight) or "server" (queries outstanding to
	// one server).
	BudgetExhausted(which string)
	// LimitHit: an upstream answer for name/qtype went past a limit on what
	// we hold: which is "records_per_rrset" (count records in one RRset:
	// the resolution failed) or "types_per_name" (name already holds count
	// RRsets: this one was not cached). Rare by design: implementations may
	// log each one.
	LimitHit(which, name string, qtype uint16, count int)
}

type nopMetrics struct{}

func (nopMetrics) CacheHit()                                       {}
func (nopMetrics) CacheMiss()                                      {}
func (nopMetrics) StaleServed()                                    {}
func (nopMetrics) UpstreamQuery(netip.AddrPort, string)            {}
func (nopMetrics) UpstreamTimeout(netip.AddrPort)                  {}
func (nopMetrics) UpstreamRTT(netip.AddrPort, bool, time.Duration) {}
func (nopMetrics) BudgetExhausted(string)                          {}
func (nopMetrics) LimitHit(string, string, uint16, int)            {}

// Counters is a Metrics that counts events; useful in tests and tools.
type Counters struct {
	Hits, Misses, Stale, Upstream, TCP, Timeouts atomic.Int64
	Budget, Limits                               atomic.Int64
}

func (c *Counters) CacheHit()    { c.Hits.Add(1) }
func (c *Counters) CacheMiss()   { c.Misses.Add(1) }
func (c *Counters) StaleServed() { c.Stale.Add(1) }
func (c *Counters) UpstreamQuery(_ netip.AddrPort, network string) {
	c.Upstream.Add(1)
	if network == "tcp" {
		c.TCP.Add(1)
	}
}
func (c *Counters) UpstreamTimeout(netip.AddrPort)                  { c.Timeouts.Add(1) }
func (c *Counters) UpstreamRTT(netip.AddrPort, bool, time.Duration) {}
func (c *Counters) BudgetExhausted(string)                          { c.Budget.Add(1) }
func (c *Counters) LimitHit(string, string, uint16, int)            { c.Limits.Add(1) }
