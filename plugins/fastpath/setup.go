package fastpath

import (
	"fmt"
	"math"
	"net"
	"strconv"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	clog "github.com/coredns/coredns/plugin/pkg/log"
	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/fastpath"
	"github.com/gitops-dns/resolverd/fastpath/udpio"
	"github.com/gitops-dns/resolverd/plugins/internal/reqmetrics"
	"github.com/gitops-dns/resolverd/plugins/internal/source"
)

const pluginName = "fastpath"

var log = clog.NewWithPlugin(pluginName)

func init() { plugin.Register(pluginName, setup) }

// Config is the fastpath block of the Corefile.
type Config struct {
	Sockets    int // 0: one per core (GOMAXPROCS)
	RecvBuffer int // bytes; 0: udpio's default (4 MiB)
	CacheSize  int // packet cache entries; 0 disables the packet cache
	MaxRecords int // internal zones larger than this are not precomputed
	MaxSlow    int // queries in the chain at once
	// LogSample: with log or dnstap in the block, 1 in LogSample of the
	// fast path's own answers reach them (1: every one; 0: none).
	LogSample int
	TCP       fastpath.TCPOptions
}

// DefaultConfig is what `fastpath` with no block means.
var DefaultConfig = Config{CacheSize: 100_000, MaxRecords: 500_000, MaxSlow: 10_000, LogSample: 1, TCP: fastpath.TCPOptions{
	MaxConns:     fastpath.DefaultTCPConns,
	MaxPerClient: fastpath.DefaultTCPPerClient,
	MaxInFlight:  fastpath.DefaultTCPInFlight,
	IdleTimeout:  fastpath.DefaultTCPIdleTimeout,
	WriteTimeout: fastpath.DefaultTCPWriteTimeout,
}}

func setup(c *caddy.Controller) error {
	cfg, err := parse(c)
	if err != nil {
		return plugin.Error(pluginName, err)
	}
	dc := dnsserver.GetConfig(c)
	if dc.Zone != "." {
		return plugin.Error(pluginName, c.Errf("fastpath answers every name: it needs the server block of the root zone (.:PORT), not %q", dc.Zone))
	}
	if dc.Transport != "dns" {
		return plugin.Error(pluginName, c.Errf("fastpath serves plain DNS over UDP, not %s://: move it to a dns:// (or scheme-less) server block", dc.Transport))
	}
	// The chain's per-query metrics (prometheus) counted in shards,
	// folded at scrape: CoreDNS's handler cost a sixth of a cold-recursion
	// query (issue 21). Same series; a no-op without prometheus.
	reqmetrics.Install(dc)
	p := newPlugin(cfg, source.Of(c))
	if p.cache != nil {
		// The node's HTTP endpoint flushes and inspects it with the resolver's.
		source.HolderOf(dc).RegisterCache(p.cache)
	}
	// The hook CoreDNS calls when it starts serving UDP on an address: it
	// hands us the server whose ServeDNS is the slow path. We decorate
	// nothing.
	dc.UDPDecorateWriterFunc = func(s *dnsserver.Server) dns.DecorateWriter {
		p.serverReady(s)
		return nil
	}
	// Before anything of this process binds (OnFirstStartup runs before
	// every OnStartup, and not on a reload): nobody else may serve here.
	c.OnFirstStartup(func() error {
		if err := checkAddrsFree(dc); err != nil {
			return plugin.Error(pluginName, fmt.Errorf("server block %s:%s: %w", dc.Zone, dc.Port, err))
		}
		return nil
	})
	// Startup errors (a socket that cannot be bound) come after parsing:
	// name the server block they belong to.
	c.OnStartup(func() error {
		if err := p.start(dc); err != nil {
			return plugin.Error(pluginName, fmt.Errorf("server block %s:%s: %w", dc.Zone, dc.Port, err))
		}
		return nil
	})
	c.OnShutdown(p.stop)
	return nil
}

func parse(c *caddy.Controller) (Config, error) {
	cfg := DefaultConfig
	c.Next() // the directive
	// RemainingArgs stops at the block's "{" (NextArg would take it as an
	// argument and refuse every block).
	if len(c.RemainingArgs()) != 0 {
		return cfg, c.ArgErr()
	}
	for c.NextBlock() {
		key := c.Val()
		args := c.RemainingArgs()
		if len(args) != 1 {
			return cfg, c.Errf("%s takes one value", key)
		}
		n, err := strconv.Atoi(args[0])
		if err != nil || n < 0 {
			return cfg, c.Errf("%s: %q is not a non-negative integer", key, args[0])
		}
		switch key {
		case "sockets":
			if n > udpio.MaxSockets {
				return cfg, c.Errf("sockets: %d is more than %d (0 means one per core)", n, udpio.MaxSockets)
			}
			cfg.Sockets = n
		case "recv_buffer":
			cfg.RecvBuffer = n
		case "cache":
			cfg.CacheSize = n
		case "max_records":
			cfg.MaxRecords = n
		case "log_sample":
			if n > math.MaxUint32 {
				return cfg, c.Errf("log_sample: %d is more than %d", n, uint32(math.MaxUint32))
			}
			cfg.LogSample = n
		case "max_slow", "tcp_connections", "tcp_per_client", "tcp_pipeline":
			if n == 0 {
				return cfg, c.Errf("%s must be at least 1", key)
			}
			switch key {
			case "max_slow":
				cfg.MaxSlow = n
			case "tcp_connections":
				cfg.TCP.MaxConns = n
			case "tcp_per_client":
				cfg.TCP.MaxPerClient = n
			case "tcp_pipeline":
				cfg.TCP.MaxInFlight = n
			}
		default:
			return cfg, c.Errf("unknown property %q (sockets, recv_buffer, cache, max_records, max_slow, log_sample, tcp_connections, tcp_per_client, tcp_pipeline)", key)
		}
	}
	if c.Next() {
		return cfg, c.Err("fastpath may appear only once per server block")
	}
	return cfg, nil
}

// listenAddrs are the addresses CoreDNS listens on for the block, spelt as
// CoreDNS spells them (so our sockets join the same SO_REUSEPORT group).
func listenAddrs(dc *dnsserver.Config) ([]string, error) {
	var out []string
	for _, h := range dc.ListenHosts {
		a, err := net.ResolveTCPAddr("tcp", net.JoinHostPort(h, dc.Port))
		if err != nil {
			return nil, fmt.Errorf("listen address %q port %s: %w", h, dc.Port, err)
		}
		out = append(out, a.String())
	}
	return out, nil
}
