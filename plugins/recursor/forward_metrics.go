package recursor

import (
	"sync"

	"github.com/coredns/coredns/plugin"
	"github.com/prometheus/client_golang/prometheus"
)

// forwardTargets exports, at every scrape, each forward rule of the served
// revision with its number of targets and how many of them the resolver
// does not hold down. Computed from the snapshot at scrape time, the series
// exist as soon as a revision is served, before the first query creates
// the resolver (every target counts as healthy until it has failed).
//
// It also exports what each recursor's cache holds (entries and estimated
// bytes, resolver.CacheUsage): read at scrape time from running sums, so
// the query path never touches a gauge, and 0 before the first resolver.
type forwardTargets struct {
	mu   sync.Mutex
	live map[*Recursor]string // recursor -> its server label
}

var (
	forwardTargetsDesc = prometheus.NewDesc(plugin.Namespace+"_"+pluginName+"_forward_targets",
		"Forward targets of each forward rule of the served revision.", []string{"server", "zone"}, nil)
	forwardHealthyDesc = prometheus.NewDesc(plugin.Namespace+"_"+pluginName+"_forward_targets_healthy",
		"Forward targets of each forward rule that are not marked down (failed their recent queries in a row).", []string{"server", "zone"}, nil)

	cacheEntriesDesc = prometheus.NewDesc(plugin.Namespace+"_"+pluginName+"_cache_entries",
		"RRsets and negative answers in the recursor's cache (bounded by cache_size).", []string{"server"}, nil)
	cacheBytesDesc = prometheus.NewDesc(plugin.Namespace+"_"+pluginName+"_cache_bytes",
		"Estimated memory of the recursor's cached entries: records, signatures, keys and bookkeeping, computed once per entry at insert (bounded by cache_max_bytes).", []string{"server"}, nil)

	forwardCollector = &forwardTargets{live: map[*Recursor]string{}}
)

func init() { prometheus.MustRegister(forwardCollector) }

func (f *forwardTargets) add(rc *Recursor, server string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.live[rc] = server
}

func (f *forwardTargets) remove(rc *Recursor) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.live, rc)
}

// Describe implements prometheus.Collector.
func (f *forwardTargets) Describe(ch chan<- *prometheus.Desc) {
	ch <- forwardTargetsDesc
	ch <- forwardHealthyDesc
	ch <- cacheEntriesDesc
	ch <- cacheBytesDesc
}

// Collect implements prometheus.Collector.
func (f *forwardTargets) Collect(ch chan<- prometheus.Metric) {
	f.mu.Lock()
	defer f.mu.Unlock()
	type key struct{ server, zone string }
	seen := map[key]bool{} // two server blocks on one address: report the first
	for rc, server := range f.live {
		if k := (key{server, ""}); !seen[k] {
			seen[k] = true
			var entries int
			var bytes int64
			if res := rc.res.Load(); res != nil {
				entries, bytes = res.CacheUsage()
			}
			ch <- prometheus.MustNewConstMetric(cacheEntriesDesc, prometheus.GaugeValue, float64(entries), server)
			ch <- prometheus.MustNewConstMetric(cacheBytesDesc, prometheus.GaugeValue, float64(bytes), server)
		}
		if rc.Source == nil {
			continue
		}
		snap := rc.Source.Snapshot()
		if snap == nil {
			continue
		}
		res := rc.res.Load()
		for _, rule := range snap.Forward {
			k := key{server, rule.Zone}
			if seen[k] {
				continue
			}
			seen[k] = true
			healthy := 0
			for _, t := range rule.To {
				if res == nil || !res.ForwardTargetDown(t) {
					healthy++
				}
			}
			ch <- prometheus.MustNewConstMetric(forwardTargetsDesc, prometheus.GaugeValue, float64(len(rule.To)), server, rule.Zone)
			ch <- prometheus.MustNewConstMetric(forwardHealthyDesc, prometheus.GaugeValue, float64(healthy), server, rule.Zone)
		}
	}
}
