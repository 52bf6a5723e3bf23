// Package vars holds the metric variables more than one plugin counts in,
// as CoreDNS keeps its server-wide ones in plugin/metrics/vars: the fast
// path counts the internal-zone answers it gives from its precomputed table
// in the authority plugin's series, so that a dashboard means the same with
// or without the fast path, and neither plugin imports the other.
package vars

import (
	"github.com/coredns/coredns/plugin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// AuthorityAnswers counts answers given from internal zones, by server,
// zone and outcome (coredns_authority_answers_total).
var AuthorityAnswers = promauto.NewCounterVec(prometheus.CounterOpts{
	Namespace: plugin.Namespace,
	Subsystem: "authority",
	Name:      "answers_total",
	Help:      "Answers from internal zones, by zone and result (answer, nxdomain, nodata, referral, refused).",
}, []string{"server", "zone", "result"})
