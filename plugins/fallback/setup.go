package fallback

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/gitops-dns/resolverd/cluster"
)

func init() { plugin.Register("fallback", setup) }

// maxTimeout bounds the configurable deadline: a fallback that waits longer
// than any client does is useless.
const maxTimeout = 30 * time.Second

func setup(c *caddy.Controller) error {
	f, err := parse(c)
	if err != nil {
		return plugin.Error("fallback", err)
	}
	src := &lazySource{}
	f.Source = src
	cfg := dnsserver.GetConfig(c)
	c.OnStartup(func() error {
		// The handlers of the server block are registered once the chain
		// is built, so the snapshot owner is looked up at startup.
		for _, h := range cfg.Handlers() {
			if s, ok := h.(Source); ok {
				src.set(s)
				return nil
			}
		}
		return plugin.Error("fallback", fmt.Errorf("no plugin of this server block provides the served snapshot (add gitops)"))
	})
	cfg.AddPlugin(func(next plugin.Handler) plugin.Handler {
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

// lazySource is the Source of the server block, found at startup.
// Before that (or without one) it serves no snapshot, so queries pass through.
type lazySource struct {
	p atomic.Pointer[sourceBox]
}

type sourceBox struct{ s Source }

func (l *lazySource) set(s Source) { l.p.Store(&sourceBox{s}) }

// Snapshot implements Source.
func (l *lazySource) Snapshot() *cluster.Snapshot {
	b := l.p.Load()
	if b == nil {
		return nil
	}
	return b.s.Snapshot()
}
