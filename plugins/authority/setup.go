package authority

import (
	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/gitops-dns/resolverd/plugins/internal/source"
)

const pluginName = "authority"

func init() { plugin.Register(pluginName, setup) }

func setup(c *caddy.Controller) error {
	c.Next() // the directive itself
	if c.NextArg() {
		return plugin.Error(pluginName, c.ArgErr())
	}
	if c.NextBlock() {
		return plugin.Error(pluginName, c.Errf("unknown property %q: authority takes no options", c.Val()))
	}
	if c.Next() {
		return plugin.Error(pluginName, c.Err("authority may appear only once per server block"))
	}
	a := &Authority{src: source.Of(c)}
	dnsserver.GetConfig(c).AddPlugin(func(next plugin.Handler) plugin.Handler {
		a.Next = next
		return a
	})
	return nil
}
