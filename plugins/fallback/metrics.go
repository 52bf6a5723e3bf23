package fallback

import (
	"github.com/coredns/coredns/plugin"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// answersTotal counts fallback answers per name and reason. The name label is
// bounded: only names of fallback.zone (operator-controlled) ever appear.
var answersTotal = promauto.NewCounterVec(prometheus.CounterOpts{
	Namespace: plugin.Namespace,
	Subsystem: "fallback",
	Name:      "answers_total",
	Help:      "Answers given from fallback records because normal resolution failed, by name and reason (servfail, error, timeout).",
}, []string{"server", "name", "reason"})
