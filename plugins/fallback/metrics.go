package fallback

import (
	"net"
	"sync"

	"github.com/coredns/coredns/plugin"

	"github.com/prometheus/client_golang/prometheus"
)

// answersTotal counts fallback answers per name and reason. The name label is
// bounded: only names of fallback.zone (operator-controlled) ever appear.
var answersTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
	Namespace: plugin.Namespace,
	Subsystem: "fallback",
	Name:      "answers_total",
	Help:      "Answers given from fallback records because normal resolution failed, by name and reason (servfail, error, timeout).",
}, []string{"server", "name", "reason"})

// reasons are every value of answersTotal's reason label.
var reasons = []string{ReasonServfail, ReasonError, ReasonTimeout}

// zeroedAnswers is answersTotal as the registry sees it: before each
// scrape it creates, at zero, the series of every name of the served
// fallback records, for each server and reason. The first fallback answer
// for a name is then an increase that alerting rules see, not a new series
// (deploy/prometheus, alert ResolverdFallbackServed).
type zeroedAnswers struct {
	mu   sync.Mutex
	live map[*Fallback][]string // plugin -> its server labels
}

var answersCollector = &zeroedAnswers{live: map[*Fallback][]string{}}

func init() { prometheus.MustRegister(answersCollector) }

// serverLabels are the values CoreDNS gives the server label (and
// metrics.WithServer) for a server block listening on hosts and port.
func serverLabels(hosts []string, port string) []string {
	if len(hosts) == 0 {
		hosts = []string{""}
	}
	out := make([]string, 0, len(hosts))
	for _, h := range hosts {
		out = append(out, "dns://"+net.JoinHostPort(h, port))
	}
	return out
}

func (z *zeroedAnswers) add(f *Fallback, servers []string) {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.live[f] = servers
}

func (z *zeroedAnswers) remove(f *Fallback) {
	z.mu.Lock()
	defer z.mu.Unlock()
	delete(z.live, f)
}

// Describe implements prometheus.Collector.
func (z *zeroedAnswers) Describe(ch chan<- *prometheus.Desc) { answersTotal.Describe(ch) }

// Collect implements prometheus.Collector.
func (z *zeroedAnswers) Collect(ch chan<- prometheus.Metric) {
	z.mu.Lock()
	for f, servers := range z.live {
		if f.Source == nil {
			continue
		}
		snap := f.Source.Snapshot()
		if snap == nil {
			continue
		}
		for name := range snap.Fallback {
			for _, s := range servers {
				for _, r := range reasons {
					answersTotal.WithLabelValues(s, name, r)
				}
			}
		}
	}
	z.mu.Unlock()
	answersTotal.Collect(ch)
}
