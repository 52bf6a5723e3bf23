package recursor

import (
	"net/netip"
	"sync"
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	requests = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: pluginName, Name: "requests_total",
		Help: "Questions the recursor answered, by result (noerror, nxdomain, servfail, refused, other).",
	}, []string{"result"})
	rpzHits = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: pluginName, Name: "rpz_hits_total",
		Help: "Counter of recursive answers a response policy rule fired on, by policy (its SOA owner) and action.",
	}, []string{"policy", "action"})
	cacheHits = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: pluginName, Name: "cache_hits_total",
		Help: "Questions answered from the cache.",
	})
	cacheMisses = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: pluginName, Name: "cache_misses_total",
		Help: "Questions the cache could not answer.",
	})
	staleServed = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: pluginName, Name: "stale_answers_total",
		Help: "Answers served from expired data (RFC 8767).",
	})
	upstreamQueries = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: pluginName, Name: "upstream_queries_total",
		Help: "Queries sent to authorities and forward targets, by transport.",
	}, []string{"proto"})
	upstreamTimeouts = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: pluginName, Name: "upstream_timeouts_total",
		Help: "Upstream queries that timed out.",
	})
	upstreamRTT = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: plugin.Namespace, Subsystem: pluginName, Name: "upstream_rtt_seconds",
		Help:    "Round trip of upstream queries; to is the forward target's address, or \"iterative\" for authorities (unbounded set, so not labelled one by one).",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"to"})
	dnssecBogus = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: pluginName, Name: "dnssec_bogus_total",
		Help: "Answers refused (SERVFAIL) because DNSSEC validation found them bogus, by reason (the RFC 8914 code's name: signature_expired, rrsigs_missing, dnskey_missing, nsec_missing, signature_not_yet_valid, bogus).",
	}, []string{"reason"})
	dnssecSecure = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: pluginName, Name: "dnssec_secure_total",
		Help: "Answers sent with AD: DNSSEC-validated, to clients that set DO or AD.",
	})
	budgetExhausted = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: pluginName, Name: "budget_exhausted_total",
		Help: "Questions (or upstream queries, for which=server) stopped by a limit: sends, cname, nslookups, deadline, inflight, server.",
	}, []string{"which"})
	limitHits = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: pluginName, Name: "limit_hits_total",
		Help: "Upstream answers that went past a limit on what the cache holds: records_per_rrset (the resolution failed), types_per_name (the RRset was not cached).",
	}, []string{"which"})
)

// The requests counter of each result, looked up once: ServeDNS counts a
// query without hashing a label value.
var (
	answered   = requests.WithLabelValues("noerror")
	nxdomain   = requests.WithLabelValues("nxdomain")
	servfailed = requests.WithLabelValues("servfail")
	refused    = requests.WithLabelValues("refused")
	otherRcode = requests.WithLabelValues("other")

	upstreamUDP = upstreamQueries.WithLabelValues("udp")
	upstreamTCP = upstreamQueries.WithLabelValues("tcp")
	upstreamTLS = upstreamQueries.WithLabelValues("tcp-tls") // forward targets over DNS over TLS
)

// promMetrics maps resolver events to the Prometheus metrics above.
type promMetrics struct{}

func (promMetrics) CacheHit()    { cacheHits.Inc() }
func (promMetrics) CacheMiss()   { cacheMisses.Inc() }
func (promMetrics) StaleServed() { staleServed.Inc() }
func (promMetrics) UpstreamQuery(_ netip.AddrPort, network string) {
	switch network {
	case "udp":
		upstreamUDP.Inc()
	case "tcp":
		upstreamTCP.Inc()
	case "tcp-tls":
		upstreamTLS.Inc()
	default:
		upstreamQueries.WithLabelValues(network).Inc()
	}
}
func (promMetrics) UpstreamTimeout(netip.AddrPort) { upstreamTimeouts.Inc() }
func (promMetrics) UpstreamRTT(server netip.AddrPort, forward bool, rtt time.Duration) {
	to := "iterative"
	if forward {
		to = server.String()
	}
	upstreamRTT.WithLabelValues(to).Observe(rtt.Seconds())
}
func (promMetrics) BudgetExhausted(which string) { budgetExhausted.WithLabelValues(which).Inc() }

// LimitHit counts the event and logs it, at most once a second (the count
// of those held back is in the next line): an attacker feeding us huge
// RRsets must not flood the log.
func (promMetrics) LimitHit(which, name string, qtype uint16, count int) {
	limitHits.WithLabelValues(which).Inc()
	limitLog.log(which, name, qtype, count)
}

var limitLog = &rateLog{every: time.Second}

type rateLog struct {
	every time.Duration
	mu    sync.Mutex
	last  time.Time
	held  int
}

func (l *rateLog) log(which, name string, qtype uint16, count int) {
	now := time.Now()
	l.mu.Lock()
	if now.Sub(l.last) < l.every {
		l.held++
		l.mu.Unlock()
		return
	}
	held := l.held
	l.last, l.held = now, 0
	l.mu.Unlock()
	switch which {
	case "records_per_rrset":
		log.Warningf("%s %s: an authority answered with %d records in one RRset, above the limit (max_records_per_rrset): resolution failed, nothing cached (%d similar events not logged)", name, dns.TypeToString[qtype], count, held)
	default:
		log.Warningf("%s %s: the name already holds %d cached RRsets (max_types_per_name): this one was not cached (%d similar events not logged)", name, dns.TypeToString[qtype], count, held)
	}
}
