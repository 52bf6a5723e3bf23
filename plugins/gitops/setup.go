package gitops

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"

	"github.com/gitops-dns/resolverd/cluster/gitrepo"
	"github.com/gitops-dns/resolverd/node/syncer"
	"github.com/gitops-dns/resolverd/plugins/internal/source"
)

const pluginName = "gitops"

func init() {
	plugin.Register(pluginName, setup)
	// CoreDNS refuses non-IN queries unless a plugin of the chain asks for
	// them: gitops answers version.config. CH TXT.
	dnsserver.EnableChaos[pluginName] = struct{}{}
}

// Config is the gitops block of a server block: the syncer's settings and
// what the CHAOS answer hides.
type Config struct {
	syncer.Config
	HideVersion bool // CHAOS version.server. / version.bind. are refused instead of answered
}

func setup(c *caddy.Controller) error {
	cfg, err := parse(c)
	if err != nil {
		return plugin.Error(pluginName, err)
	}
	dc := dnsserver.GetConfig(c)
	g, err := newPlugin(cfg, source.HolderOf(dc))
	if err != nil {
		return plugin.Error(pluginName, err)
	}
	c.OnStartup(func() error {
		g.SetProbeAddr(listenAddr(dc))
		return g.Start()
	})
	c.OnShutdown(func() error {
		source.Forget(dc)
		return g.Stop()
	})
	// A reload (SIGUSR1) starts the new instance while this one still
	// runs: stop syncing and free the status port first; if the reload
	// fails, this instance resumes.
	c.OnRestart(g.Stop)
	c.OnRestartFailed(g.Start)
	dc.AddPlugin(func(next plugin.Handler) plugin.Handler {
		g.Next = next
		return g
	})
	return nil
}

// listenAddr is where this server block answers DNS, for the probes the node
// runs against itself.
func listenAddr(dc *dnsserver.Config) string {
	host := "127.0.0.1"
	for _, h := range dc.ListenHosts {
		a, err := netip.ParseAddr(h)
		if err != nil || a.IsUnspecified() {
			continue
		}
		host = a.String()
		break
	}
	port := dc.Port
	if port == "" {
		port = "53"
	}
	return net.JoinHostPort(host, port)
}

// parse reads the gitops block; see README.md for every setting.
func parse(c *caddy.Controller) (Config, error) {
	cfg := Config{Config: syncer.Config{
		Poll:          syncer.DefaultPoll,
		MaxBackoff:    syncer.DefaultMaxBackoff,
		State:         syncer.DefaultState,
		ProbeTimeout:  syncer.DefaultProbeTimeout,
		ProbeInterval: syncer.DefaultProbeInterval,
		Probes:        true,
		Remote:        gitrepo.Remote{Timeout: gitrepo.DefaultTimeout, Depth: syncer.DefaultDepth},
	}}
	i := 0
	for c.Next() {
		if i > 0 {
			return cfg, plugin.ErrOnce
		}
		i++
		args := c.RemainingArgs()
		if len(args) > 1 {
			return cfg, c.ArgErr()
		}
		if len(args) == 1 {
			cfg.Remote.URL = args[0]
			origin(c, &cfg, "repo")
		}
		for c.NextBlock() {
			if err := parseSetting(c, &cfg); err != nil {
				return cfg, err
			}
		}
	}
	return cfg, complete(c, &cfg)
}

// setting is one line of the block: a key and its arguments.
type setting struct {
	c    *caddy.Controller
	key  string
	args []string
}

func (a setting) one() (string, error) {
	if len(a.args) != 1 {
		return "", a.c.Errf("%s takes exactly one argument", a.key)
	}
	return a.args[0], nil
}

func (a setting) dur() (time.Duration, error) {
	s, err := a.one()
	if err != nil {
		return 0, err
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, a.c.Errf("%s: %q is not a positive duration", a.key, s)
	}
	return d, nil
}

// durOrOff is dur that also takes 0, for "off".
func (a setting) durOrOff() (time.Duration, error) {
	s, err := a.one()
	if err != nil {
		return 0, err
	}
	if d, err := time.ParseDuration(s); err == nil && d == 0 {
		return 0, nil
	}
	return a.dur()
}

// origin records the Corefile line of setting key, for the errors of a
// mistake found only once the repository is read (syncer.Config.Origin).
func origin(c *caddy.Controller, cfg *Config, key string) {
	if cfg.Origin == nil {
		cfg.Origin = map[string]string{}
	}
	cfg.Origin[key] = fmt.Sprintf("%s:%d", c.File(), c.Line())
}

// parseSetting reads the line the controller is on into cfg.
func parseSetting(c *caddy.Controller, cfg *Config) error {
	a := setting{c: c, key: c.Val(), args: c.RemainingArgs()}
	var err error
	switch a.key {
	case "repo", "cluster", "node":
		origin(c, cfg, a.key)
	}
	switch a.key {
	case "repo":
		cfg.Remote.URL, err = a.one()
	case "ref":
		cfg.Ref, err = a.one()
	case "path":
		switch len(a.args) {
		case 0:
			cfg.Path = ""
		case 1:
			cfg.Path = a.args[0]
		default:
			err = c.ArgErr()
		}
	case "cluster":
		cfg.Cluster, err = a.one()
	case "node":
		cfg.Node, err = a.one()
	case "poll":
		cfg.Poll, err = a.dur()
	case "max_backoff":
		cfg.MaxBackoff, err = a.dur()
	case "fetch_timeout":
		cfg.Remote.Timeout, err = a.dur()
	case "probe_timeout":
		cfg.ProbeTimeout, err = a.dur()
	case "probe_interval":
		cfg.ProbeInterval, err = a.durOrOff()
	case "state":
		cfg.State, err = a.one()
	case "trust":
		cfg.Trust, err = a.one()
	case "auth_file":
		cfg.Remote.AuthFile, err = a.one()
	case "ca_file":
		cfg.Remote.CAFile, err = a.one()
	case "ssh_key":
		cfg.Remote.SSHKeyFile, err = a.one()
	case "known_hosts":
		cfg.Remote.KnownHostsFile, err = a.one()
	case "http":
		cfg.HTTP, err = a.one()
	case "sync_token_file":
		cfg.SyncTokenFile, err = a.one()
	case "depth":
		var s string
		if s, err = a.one(); err == nil {
			n, perr := strconv.Atoi(s)
			if perr != nil || n < 0 {
				return c.Errf("depth: %q is not a number >= 0 (0 = full history)", s)
			}
			cfg.Remote.Depth = n
		}
	case "probes":
		var s string
		if s, err = a.one(); err == nil {
			switch s {
			case "on":
				cfg.Probes = true
			case "off":
				cfg.Probes = false
			default:
				return c.Errf("probes: want on or off, got %q", s)
			}
		}
	case "hide_version":
		if len(a.args) != 0 {
			err = c.ArgErr()
		}
		cfg.HideVersion = true
	case "hosts":
		if len(a.args) != 2 {
			return c.Errf("hosts takes a name and an IP address")
		}
		ip, perr := netip.ParseAddr(a.args[1])
		if perr != nil {
			return c.Errf("hosts %s: %q is not an IP address", a.args[0], a.args[1])
		}
		if cfg.Remote.Hosts == nil {
			cfg.Remote.Hosts = map[string]netip.Addr{}
		}
		cfg.Remote.Hosts[a.args[0]] = ip
	default:
		return c.Errf("unknown property '%s'", a.key)
	}
	return err
}

// complete checks what the block must name and makes the paths absolute.
func complete(c *caddy.Controller, cfg *Config) error {
	if cfg.Remote.URL == "" {
		return c.Err("repo is required")
	}
	if cfg.Cluster == "" {
		return c.Err("cluster is required")
	}
	if cfg.Node == "" {
		return c.Err("node is required")
	}
	if gitrepo.IsLocalPath(cfg.Remote.URL) {
		abs, err := filepath.Abs(cfg.Remote.URL)
		if err != nil {
			return c.Errf("repo %q: %v", cfg.Remote.URL, err)
		}
		cfg.Remote.URL = abs
	}
	abs, err := filepath.Abs(cfg.State)
	if err != nil {
		return c.Errf("state %q: %v", cfg.State, err)
	}
	cfg.State = abs
	if err := cfg.Remote.Validate(); err != nil {
		return c.Errf("repo: %v", err)
	}
	return nil
}
