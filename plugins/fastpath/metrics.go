package fastpath

import (
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/gitops-dns/resolverd/fastpath"
	"github.com/gitops-dns/resolverd/plugins/internal/reqmetrics"
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
// so dashboards see every query whichever way it went, and by path in
// coredns_fastpath_responses_total. A batch locks one shard of the request
// table (reqmetrics) and adds plain integers; the path counters take one
// atomic add per path per batch.
type fastMetrics struct {
	server, zone string
	table        *reqmetrics.Table
	paths        [2]prometheus.Counter // by fastpath.Path: prebuilt, packetcache
	dropped      prometheus.Counter
}

func newFastMetrics(server, zone string) *fastMetrics {
	return &fastMetrics{
		server: server, zone: zone,
		table: reqmetrics.Counts(),
		paths: [2]prometheus.Counter{
			fastpath.PathPrebuilt: responsesTotal.WithLabelValues(server, fastpath.PathPrebuilt.String()),
			fastpath.PathCache:    responsesTotal.WithLabelValues(server, fastpath.PathCache.String()),
		},
		dropped: droppedTotal.WithLabelValues(server),
	}
}

// Answered implements fastpath.Metrics.
func (m *fastMetrics) Answered(rs []fastpath.Response, dur time.Duration) {
	var paths [2]int
	k := reqmetrics.Key{Server: m.server, Zone: m.zone, Proto: reqmetrics.UDP}
	o := reqmetrics.Observation{Duration: dur}
	a := m.table.Lock()
	for i := range rs {
		r := &rs[i]
		// The plugin the chain's response would have come from.
		k.Plugin = "authority"
		if r.Path == fastpath.PathCache {
			k.Plugin = "recursor"
		}
		k.Rcode, k.QType, k.Family, k.DO = r.Rcode, r.QType, uint8(r.Family), r.DO
		o.ReqSize, o.RespSize = r.ReqSize, r.RespSize
		a.Add(&k, &o)
		if int(r.Path) < len(paths) {
			paths[r.Path]++
		}
	}
	a.Done()
	for p, n := range paths {
		if n > 0 {
			m.paths[p].Add(float64(n))
		}
	}
}

// Dropped implements fastpath.Metrics.
func (m *fastMetrics) Dropped() { m.dropped.Inc() }
