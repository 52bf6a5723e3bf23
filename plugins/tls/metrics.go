package tls

import (
	"github.com/coredns/coredns/plugin"
	"github.com/prometheus/client_golang/prometheus"
)

// certExpiry exports when the block's certificate expires, read at each
// scrape, so an alert can fire before clients start failing.
func certExpiry(cf *CertFiles) {
	g := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace:   plugin.Namespace,
		Subsystem:   pluginName,
		Name:        "certificate_not_after_seconds",
		Help:        "Expiry of the certificate served on DNS over TLS/HTTPS (Unix seconds; 0 when the files cannot be loaded).",
		ConstLabels: prometheus.Labels{"file": cf.Cert},
	}, func() float64 {
		t := cf.NotAfter()
		if t.IsZero() {
			return 0
		}
		return float64(t.Unix())
	})
	if err := prometheus.Register(g); err != nil {
		if _, dup := err.(prometheus.AlreadyRegisteredError); !dup {
			log.Warningf("certificate expiry metric: %v", err)
		}
	}
}
