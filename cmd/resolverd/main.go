// Command resolverd is one node of the resolver cluster: CoreDNS, built as a
// library with only the plugins this product uses, plus our own (gitops,
// fallback, authority, recursor), registered in the order queries flow.
//
// With no -conf flag it starts from the built-in bootstrap, which is the
// project's Corefile.example: it serves examples/dns-config from the git
// history of the current directory, so `go run ./cmd/resolverd` in a clone
// of this project answers on 127.0.0.1:1053.
package main

import (
	_ "embed"
	"flag"
	"os"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	// CoreDNS's own plugins that we use. Each registers itself on import.
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/debug"
	_ "github.com/coredns/coredns/plugin/dnstap"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/pprof"
	_ "github.com/coredns/coredns/plugin/ready"

	// Ours.
	_ "github.com/gitops-dns/resolverd/plugins/authority"
	_ "github.com/gitops-dns/resolverd/plugins/fallback"
	_ "github.com/gitops-dns/resolverd/plugins/fastpath"
	_ "github.com/gitops-dns/resolverd/plugins/gitops"
	_ "github.com/gitops-dns/resolverd/plugins/recursor"
	_ "github.com/gitops-dns/resolverd/plugins/tls"
)

// directives is the plugin order: setup runs in this order and a query walks
// the chain in this order. Observability first, then gitops (owns the
// snapshot and answers version.config), fastpath (not in the chain: it
// takes UDP and TCP in front of it, answering from precomputed internal-zone answers
// and a packet cache, and runs the chain for the rest), then fallback (wraps what follows so
// it can see a failure), authority (internal zones), recursor (the rest).
var directives = []string{
	"tls", // ours (plugins/tls): the certificate of the block's tls:// and https:// listeners
	"bind",
	"debug",
	"pprof",
	"health",
	"ready",
	"prometheus",
	"errors",
	"log",
	"dnstap",
	"gitops",
	"fastpath",
	"fallback",
	"authority",
	"recursor",
}

// defaultCorefile is Corefile.example (a test keeps the two identical).
//
//go:embed Corefile.default
var defaultCorefile []byte

func init() {
	dnsserver.Directives = directives
	// Replaces coremain's "./Corefile" default: no -conf means the example.
	caddy.SetDefaultCaddyfileLoader("resolverd-default", caddy.LoaderFunc(loadDefault))
	// coremain's help names its own default, ./Corefile, which never applies.
	if f := flag.Lookup("conf"); f != nil {
		f.Usage = confUsage
	}
}

// confUsage is -conf's line of -help.
const confUsage = "Corefile to load (default: the built-in Corefile.example, which serves examples/dns-config of the git repository in the current directory)"

func loadDefault(serverType string) (caddy.Input, error) {
	return caddy.CaddyfileInput{
		Contents:       defaultCorefile,
		Filepath:       "Corefile.example (built in)",
		ServerTypeName: serverType,
	}, nil
}

func main() {
	flag.Parse()
	if *healthURL != "" {
		os.Exit(healthcheck(*healthURL))
	}
	// coremain parses the flags (-conf, -version, ...) and runs until a signal.
	coremain.Run()
}
