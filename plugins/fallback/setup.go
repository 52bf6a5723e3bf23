package fallback

import (
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/gitops-dns/resolverd/node"
	"github.com/gitops-dns/resolverd/plugins/internal/source"
)

func init() { plugin.Register("fallback", setup) }

// maxTimeout bounds the configurable deadline: a fallback that waits longer
// than any client does is useless.
const maxTimeout = 30 * time.Second

// sourceOf finds the snapshot of the server block: the gitops plugin's
// (tests replace it).
var sourceOf = func(c *caddy.Controller) node.Source { return source.Of(c) }

func setup(c *caddy.Controller) error {
	f, err := parse(c)
	if err != nil {
		return plugin.Error("fallback", err)
	}
	f.Source = sourceOf(c)
	dc := dnsserver.GetConfig(c)
	servers := serverLabels(dc.ListenHosts, dc.Port)
	c.OnStartup(func() error { answersCollector.add(f, servers); return nil })
	c.OnShutdown(func() error { answersCollector.remove(f); return nil })
	dc.AddPlugin(func(next plugin.Handler) plugin.Handler {
		f.Next = next
		return f
	})
	return nil
}

// parse reads:
//
//	fallback {
//	    timeout DURATION
//	}
func parse(c *caddy.Controller) (*Fallback, error) {
	f := &Fallback{Timeout: DefaultTimeout}
	i := 0
	for c.Next() {
		if i > 0 {
			return nil, plugin.ErrOnce
		}
		i++
		if len(c.RemainingArgs()) > 0 {
			return nil, c.ArgErr()
		}
		for c.NextBlock() {
			switch c.Val() {
			case "timeout":
				args := c.RemainingArgs()
				if len(args) != 1 {
					return nil, c.ArgErr()
				}
				d, err := time.ParseDuration(args[0])
				if err != nil {
					return nil, c.Errf("timeout: %v", err)
				}
				if d <= 0 || d > maxTimeout {
					return nil, c.Errf("timeout %s out of range (0, %s]", d, maxTimeout)
				}
				f.Timeout = d
			default:
				return nil, c.Errf("unknown property '%s'", c.Val())
			}
		}
	}
	return f, nil
}
