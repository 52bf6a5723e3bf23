package fastpath

import (
	"strconv"
	"sync"
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/metrics/vars"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/gitops-dns/resolverd/fastpath"
)

var (
	responsesTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: "fastpath",
		Name:      "responses_total",
		Help:      "Responses the fast path sent itself, by path (prebuilt internal-zone answer, packetcache).",
	}, []string{"server", "path"})
	droppedTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: "fastpath",
		Name:      "dropped_total",
		Help:      "Queries dropped because too many were already waiting for the plugin chain.",
	}, []string{"server"})
	prebuiltResponses = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: "fastpath",
		Name:      "prebuilt_responses",
		Help:      "Distinct wire responses precomputed for the served revision's internal zones.",
	}, []string{"server"})
	cacheEntries = promauto.NewGauge(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: "fastpath",
		Name:      "packetcache_entries",
		Help:      "Responses in the packet cache.",
	})
	cacheBytes = promauto.NewGauge(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: "fastpath",
		Name:      "packetcache_bytes",
		Help:      "Bytes of responses held by the packet cache (wire bodies only).",
	})
	tcpConns = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: "fastpath",
		Name:      "tcp_connections",
		Help:      "TCP connections open.",
	}, []string{"server"})
	tcpClosedTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: "fastpath",
		Name:      "tcp_limit_closed_total",
		Help:      "TCP connections closed by the connection bounds: evicted (the longest idle, to make room) or refused (every competitor busy).",
	}, []string{"server", "reason"})
	logDroppedTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: "fastpath",
		Name:      "log_dropped_total",
		Help:      "Sampled fast-path answers not handed to log and dnstap because the queue to them was full.",
	}, []string{"server"})
	recvBuffer = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: "fastpath",
		Name:      "recv_buffer_bytes",
		Help:      "Effective SO_RCVBUF of the fast path's sockets, as the kernel reports it.",
	}, []string{"server"})
)

// gauges refreshes the size gauges while the plugin runs.
func (p *Plugin) gauges() {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for range t.C {
		p.mu.Lock()
		n := len(p.listeners)
		for _, l := range p.listeners {
			if a := l.fp.Answers(); a != nil {
				prebuiltResponses.WithLabelValues(l.server).Set(float64(a.Responses))
			}
			tcpConns.WithLabelValues(l.server).Set(float64(l.tcp.Conns()))
		}
		p.mu.Unlock()
		if n == 0 {
			return
		}
		if p.cache != nil {
			cacheEntries.Set(float64(p.cache.Len()))
			cacheBytes.Set(float64(p.cache.Bytes()))
		}
	}
}

// fastMetrics counts the fast path's responses in CoreDNS's own request
// and response metrics (what the prometheus plugin counts for the chain),
// so dashboards see every query whichever way it went. The label
// combinations are resolved once and reused: a query costs a map load and
// a few atomic adds.
type fastMetrics struct {
	server, zone string
	resolved     sync.Map // metricKey -> *resolvedMetrics
	dropped      prometheus.Counter
}

type metricKey struct {
	path   fastpath.Path
	qtype  uint16
	rcode  uint8
	family uint8
	do     bool
}

type resolvedMetrics struct {
	requests, rcodes, path, do prometheus.Counter
	duration, reqSize, resSize prometheus.Observer
}

func newFastMetrics(server, zone string) *fastMetrics {
	return &fastMetrics{server: server, zone: zone, dropped: droppedTotal.WithLabelValues(server)}
}

// Answered implements fastpath.Metrics.
func (m *fastMetrics) Answered(a *fastpath.Response, dur time.Duration) {
	k := metricKey{path: a.Path, qtype: a.QType, rcode: uint8(a.Rcode), family: uint8(a.Family), do: a.DO}
	v, ok := m.resolved.Load(k)
	if !ok {
		v, _ = m.resolved.LoadOrStore(k, m.resolve(k))
	}
	r := v.(*resolvedMetrics)
	r.requests.Inc()
	r.rcodes.Inc()
	r.path.Inc()
	if r.do != nil {
		r.do.Inc()
	}
	r.duration.Observe(dur.Seconds())
	r.reqSize.Observe(float64(a.ReqSize))
	r.resSize.Observe(float64(a.RespSize))
}

// Dropped implements fastpath.Metrics.
func (m *fastMetrics) Dropped() { m.dropped.Inc() }

func (m *fastMetrics) resolve(k metricKey) *resolvedMetrics {
	const view = ""
	qtype := "other"
	if monitored[k.qtype] {
		qtype = dns.Type(k.qtype).String()
	}
	who := "authority"
	if k.path == fastpath.PathCache {
		who = "recursor"
	}
	rcode, ok := dns.RcodeToString[int(k.rcode)]
	if !ok {
		rcode = strconv.Itoa(int(k.rcode))
	}
	r := &resolvedMetrics{
		requests: vars.RequestCount.WithLabelValues(m.server, m.zone, view, "udp", strconv.Itoa(int(k.family)), qtype),
		rcodes:   vars.ResponseRcode.WithLabelValues(m.server, m.zone, view, rcode, who),
		path:     responsesTotal.WithLabelValues(m.server, k.path.String()),
		duration: vars.RequestDuration.WithLabelValues(m.server, m.zone, view),
		reqSize:  vars.RequestSize.WithLabelValues(m.server, m.zone, view, "udp"),
		resSize:  vars.ResponseSize.WithLabelValues(m.server, m.zone, view, "udp"),
	}
	if k.do {
		r.do = vars.RequestDo.WithLabelValues(m.server, m.zone, view)
	}
	return r
}

// monitored are the query types CoreDNS's request metrics name (the rest
// are "other"), as in its vars package.
var monitored = map[uint16]bool{
	dns.TypeAAAA: true, dns.TypeA: true, dns.TypeCNAME: true, dns.TypeDNSKEY: true, dns.TypeDS: true,
	dns.TypeMX: true, dns.TypeNSEC3: true, dns.TypeNSEC: true, dns.TypeNS: true, dns.TypePTR: true,
	dns.TypeRRSIG: true, dns.TypeSOA: true, dns.TypeSRV: true, dns.TypeTXT: true, dns.TypeHTTPS: true,
	dns.TypeSVCB: true, dns.TypeIXFR: true, dns.TypeAXFR: true, dns.TypeANY: true,
}
