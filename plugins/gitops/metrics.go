package gitops

import (
	"strconv"
	"sync"
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/gitops-dns/resolverd/node/syncer"
)

var (
	revisionInfo = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: "gitops",
		Name:      "revision_info",
		Help:      "1 for the config revision (full commit id) being served.",
	}, []string{"revision"})
	lastSuccessTime = promauto.NewGauge(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: "gitops",
		Name:      "last_successful_sync_timestamp_seconds",
		Help:      "Unix time of the last sync that fetched the remote successfully.",
	})
	lastAttemptTime = promauto.NewGauge(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: "gitops",
		Name:      "last_sync_attempt_timestamp_seconds",
		Help:      "Unix time of the last sync attempt.",
	})
	lastGoodTime = promauto.NewGauge(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: "gitops",
		Name:      "last_good_timestamp_seconds",
		Help:      "Unix time the last good revision was applied.",
	})
	syncAttempts = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: "gitops",
		Name:      "sync_attempts_total",
		Help:      "Sync attempts (fetch of the tracked ref).",
	})
	syncErrors = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: "gitops",
		Name:      "sync_errors_total",
		Help:      "Failed fetches by class (unreachable, timeout, auth-refused, repo-not-found, ref-not-found, corrupt-object, config, other).",
	}, []string{"class"})
	syncRequests = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: "gitops",
		Name:      "sync_requests_total",
		Help:      "Authenticated on-demand sync requests (HTTP POST /sync).",
	})
	cacheFlushes = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: "gitops",
		Name:      "cache_flushes_total",
		Help:      "Authenticated cache flushes (HTTP POST /cache/flush).",
	})
	cacheFlushedEntries = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: "gitops",
		Name:      "cache_flushed_entries_total",
		Help:      "Entries dropped from the resolver's and the packet cache by POST /cache/flush.",
	})
	rejectedRevisions = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: "gitops",
		Name:      "rejected_revisions_total",
		Help:      "Revisions refused (or rolled back), by reason.",
	}, []string{"reason"})
	applyDuration = promauto.NewHistogram(prometheus.HistogramOpts{
		Namespace: plugin.Namespace,
		Subsystem: "gitops",
		Name:      "apply_duration_seconds",
		Help:      "Time from a fetched head to its snapshot being served (verify, load, validate, build, swap).",
		Buckets:   prometheus.ExponentialBuckets(0.001, 2, 16),
	})
	consecutiveFailures = promauto.NewGauge(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: "gitops",
		Name:      "consecutive_fetch_failures",
		Help:      "Fetches failed in a row (0 after a success).",
	})
	stateCorrupt = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: "gitops",
		Name:      "state_corrupted_total",
		Help:      "Times the state directory was found corrupted and moved aside.",
	})
	stateBytes = promauto.NewGauge(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: "gitops",
		Name:      "state_bytes",
		Help:      "Bytes of every file in the state directory (clone, last good record, snapshot); the clone is pruned when it holds too many packs.",
	})
	statePacks = promauto.NewGauge(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: "gitops",
		Name:      "state_packs",
		Help:      "Pack files in the state directory's clone (one per fetched revision until the next prune).",
	})
	probeFailures = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: "gitops",
		Name:      "probe_failures_total",
		Help:      "Probes of the repo that failed against this node, after an apply or in its periodic self-probes, by probe name and gate.",
	}, []string{"probe", "gate"})
	// nodeInfo names the node's cluster and node: alerting rules join on it
	// (deploy/prometheus), so scrape configs need no per-cluster labels.
	nodeInfo = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: "gitops",
		Name:      "node_info",
		Help:      "1, labelled with the cluster and node this resolverd is (the gitops block's cluster and node).",
	}, []string{"cluster", "node"})
	clusterNodes = promauto.NewGauge(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: "gitops",
		Name:      "cluster_nodes",
		Help:      "Nodes of this node's cluster in the served revision (0 while none is served).",
	})
	revisionTime = promauto.NewGauge(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: "gitops",
		Name:      "revision_timestamp_seconds",
		Help:      "Commit (committer) time of the served revision, Unix seconds (0 while none is served): which node of a cluster lags.",
	})
	conditionGauge = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: "gitops",
		Name:      "condition",
		Help:      "Status conditions (Ready, Reconciling, Stalled, SourceVerified): 1 for the current status (True, False, Unknown).",
	}, []string{"type", "status"})
)

var revisionMu sync.Mutex

// promMetrics is the syncer's Metrics on the vectors above.
type promMetrics struct{}

func (promMetrics) SyncAttempt(t time.Time) {
	syncAttempts.Inc()
	lastAttemptTime.Set(float64(t.Unix()))
}
func (promMetrics) FetchFailed(class string)   { syncErrors.WithLabelValues(class).Inc() }
func (promMetrics) FetchSucceeded(t time.Time) { lastSuccessTime.Set(float64(t.Unix())) }
func (promMetrics) ConsecutiveFailures(n int)  { consecutiveFailures.Set(float64(n)) }
func (promMetrics) Rejected(reason string)     { rejectedRevisions.WithLabelValues(reason).Inc() }
func (promMetrics) Applied(d time.Duration)    { applyDuration.Observe(d.Seconds()) }
func (promMetrics) LastGood(t time.Time)       { lastGoodTime.Set(float64(t.Unix())) }
func (promMetrics) StateCorrupted()            { stateCorrupt.Inc() }
func (promMetrics) StateDir(bytes int64, packs int) {
	stateBytes.Set(float64(bytes))
	statePacks.Set(float64(packs))
}
func (promMetrics) SyncRequested() { syncRequests.Inc() }
func (promMetrics) CacheFlushed(n int) {
	cacheFlushes.Inc()
	cacheFlushedEntries.Add(float64(n))
}
func (promMetrics) ProbeFailed(p string, gate bool) {
	probeFailures.WithLabelValues(p, strconv.FormatBool(gate)).Inc()
}

// Condition sets the condition's series of status to 1 and the others to 0.
func (promMetrics) Condition(typ, status string) {
	for _, v := range []string{"True", "False", "Unknown"} {
		b := 0.0
		if v == status {
			b = 1
		}
		conditionGauge.WithLabelValues(typ, v).Set(b)
	}
}

// Node makes node_info name this node and creates every rejected-revision
// reason and sync-error class at zero, so that a node's first refusal or
// failed fetch is an increase rules can see, not a new series
// (deploy/prometheus).
func (promMetrics) Node(clusterName, node string, reasons, classes []string) {
	nodeInfo.Reset()
	nodeInfo.WithLabelValues(clusterName, node).Set(1)
	for _, r := range reasons {
		rejectedRevisions.WithLabelValues(r)
	}
	for _, c := range classes {
		syncErrors.WithLabelValues(c)
	}
}

// Serving makes s.Revision the only revision_info series (none when
// nothing is served) and sets the served commit's time and cluster size
// (0 when nothing is served).
func (promMetrics) Serving(s syncer.Served) {
	revisionMu.Lock()
	defer revisionMu.Unlock()
	revisionInfo.Reset()
	if s.Revision != "" {
		revisionInfo.WithLabelValues(s.Revision).Set(1)
	}
	committed := 0.0
	if !s.Committed.IsZero() {
		committed = float64(s.Committed.Unix())
	}
	revisionTime.Set(committed)
	clusterNodes.Set(float64(s.ClusterNodes))
}
