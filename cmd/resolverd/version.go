package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/coremain"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/gitops-dns/resolverd/internal/version"
)

// buildInfo is the product version as a metric, so dashboards and alerts
// can tell which build each node runs (CoreDNS's own coredns_build_info
// names the CoreDNS library version).
var buildInfo = promauto.NewGaugeVec(prometheus.GaugeOpts{
	Name: "resolverd_build_info",
	Help: "1, labelled with the product version, its commit, the Go version and the CoreDNS library version.",
}, []string{"version", "revision", "goversion", "coredns"})

var healthURL = flag.String("healthcheck", "", "GET this URL and exit 0 if it answers 200 (the container image's HEALTHCHECK; a scratch image has no curl)")

func init() {
	// coremain's -version prints "<AppName>-<AppVersion>" and then
	// "<os>/<arch>, <go>, <GitCommit>": make both ours.
	caddy.AppName = "resolverd"
	caddy.AppVersion = version.String()
	coremain.GitCommit = version.Revision()
	if coremain.GitCommit == "" {
		coremain.GitCommit = "commit unknown" // as dnsctl version says
	}
	buildInfo.WithLabelValues(version.String(), version.Revision(), runtime.Version(), coremain.CoreVersion).Set(1)
}

// healthcheck GETs url with a deadline and returns the exit status.
func healthcheck(url string) int {
	if !strings.HasPrefix(url, "http://") {
		fmt.Fprintf(os.Stderr, "resolverd -healthcheck: %q: only http:// URLs (the health plugin's address)\n", url)
		return 2
	}
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		fmt.Fprintf(os.Stderr, "resolverd -healthcheck: %v\n", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(os.Stderr, "resolverd -healthcheck: %s: %s\n", url, resp.Status)
		return 1
	}
	return 0
}
