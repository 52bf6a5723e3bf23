package tls

import (
	ctls "crypto/tls"
	"path/filepath"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	clog "github.com/coredns/coredns/plugin/pkg/log"
)

const pluginName = "tls"

var log = clog.NewWithPlugin(pluginName)

func init() { plugin.Register(pluginName, setup) }

// setup reads `tls CERT KEY` and gives the block's encrypted listeners a
// TLS configuration whose certificate comes from the files at each
// handshake (reloaded when they change). Unreadable or expired files are
// logged naming the file, and only the TLS handshakes fail: the block's
// plain DNS listener is unaffected.
func setup(c *caddy.Controller) error {
	cf, err := parse(c)
	if err != nil {
		return plugin.Error(pluginName, err)
	}
	config := dnsserver.GetConfig(c)
	if config.TLSConfig != nil {
		return plugin.Error(pluginName, c.Err("TLS already configured for this server block"))
	}
	for _, p := range []*string{&cf.Cert, &cf.Key} {
		if !filepath.IsAbs(*p) && config.Root != "" {
			*p = filepath.Join(config.Root, *p)
		}
	}
	cf.Infof = log.Infof
	if err := cf.Load(); err != nil {
		log.Errorf("DNS over TLS/HTTPS will refuse handshakes until fixed (plain DNS keeps serving): %v", err)
	}
	cf.Logf = log.Errorf // later: each new problem once, as handshakes find it
	config.TLSConfig = &ctls.Config{
		MinVersion:     ctls.VersionTLS12, // RFC 8310 section 9 / RFC 7525
		GetCertificate: cf.GetCertificate,
	}
	certExpiry(cf)
	return nil
}

// parse reads `tls CERT KEY` (once).
func parse(c *caddy.Controller) (*CertFiles, error) {
	var cf *CertFiles
	for c.Next() {
		if cf != nil {
			return nil, plugin.ErrOnce
		}
		args := c.RemainingArgs()
		if len(args) != 2 {
			return nil, c.Errf("%v", errNoFiles)
		}
		if c.NextBlock() {
			return nil, c.Errf("unknown option %q: tls takes a certificate file and a key file", c.Val())
		}
		cf = &CertFiles{Cert: args[0], Key: args[1]}
	}
	return cf, nil
}
