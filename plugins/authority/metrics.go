package authority

import (
	"github.com/coredns/coredns/plugin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	// answersTotal counts answers given from internal zones, by zone and outcome.
	answersTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: "authority",
		Name:      "answers_total",
		Help:      "Answers from internal zones, by zone and result (answer, nxdomain, nodata, referral, refused).",
	}, []string{"server", "zone", "result"})
)

// AnswersCounter is the answers_total counter of one server, zone and
// result: the fast path counts its precomputed answers of the internal
// zones in it, so the metric means the same with or without it.
func AnswersCounter(server, zone, result string) prometheus.Counter {
	return answersTotal.WithLabelValues(server, zone, result)
}
