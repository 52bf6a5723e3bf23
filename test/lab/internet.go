package lab

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/gitops-dns/resolverd/internal/nsdconf"
)

// The lab's internet: one host (site "inet", 198.18.5.0/24) running three
// NSD instances, each on its own address:
//
//	198.18.5.1  a.root-servers.net.   the root zone "."
//	198.18.5.2  a.gtld-servers.net.   com. and net.
//	198.18.5.3  ns1.example.com.      example.com. and example.net.
//
// The config repo's root.hints point at 198.18.5.1, so nodes resolve
// external names through this chain only.
const (
	RootIP = "198.18.5.1"
	TLDIP  = "198.18.5.2"
	SLDIP  = "198.18.5.3"
	// BlackholeIP is routed to nowhere: packets to it vanish silently.
	BlackholeIP = "198.18.6.66"
)

// External names and what the lab's internet answers for them.
const (
	ExternalWWW     = "www.example.com."
	ExternalWWWA    = "198.18.5.80"
	ExternalWWWAAAA = "2001:db8:5::80"
	ExternalAlias   = "web.example.com." // CNAME www.example.com.
	ExternalNet     = "mirror.example.net."
	ExternalNetA    = "198.18.5.90"
	// ExternalCT is a critical external name (a CT log) with a fallback
	// record in the config repo.
	ExternalCT  = "ct.example.com."
	ExternalCTA = "198.18.5.30"
)

var internetZones = map[string]string{
	"root.zone": `$TTL 3600
.                    IN SOA a.root-servers.net. hostmaster.example.net. 2026112101 1800 900 604800 60
.                    IN NS  a.root-servers.net.
com.                 IN NS  a.gtld-servers.net.
net.                 IN NS  a.gtld-servers.net.
a.root-servers.net.  IN A   198.18.5.1
a.gtld-servers.net.  IN A   198.18.5.2
`,
	"com.zone": `$TTL 3600
com.                 IN SOA a.gtld-servers.net. hostmaster.example.net. 2026112101 1800 900 604800 60
com.                 IN NS  a.gtld-servers.net.
example.com.         IN NS  ns1.example.com.
ns1.example.com.     IN A   198.18.5.3
`,
	"net.zone": `$TTL 3600
net.                 IN SOA a.gtld-servers.net. hostmaster.example.net. 2026112101 1800 900 604800 60
net.                 IN NS  a.gtld-servers.net.
a.gtld-servers.net.  IN A   198.18.5.2
a.root-servers.net.  IN A   198.18.5.1
example.net.         IN NS  ns1.example.com.
`,
	"example.com.zone": `$TTL 300
example.com.         IN SOA ns1.example.com. hostmaster.example.com. 2026112101 1800 900 604800 60
example.com.         IN NS  ns1.example.com.
ns1.example.com.     IN A   198.18.5.3
www.example.com.     IN A   198.18.5.80
www.example.com.     IN AAAA 2001:db8:5::80
web.example.com.     IN CNAME www.example.com.
ct.example.com.      IN A   198.18.5.30
`,
	"example.net.zone": `$TTL 300
example.net.         IN SOA ns1.example.com. hostmaster.example.com. 2026112101 1800 900 604800 60
example.net.         IN NS  ns1.example.com.
mirror.example.net.  IN A   198.18.5.90
`,
}

// RootHints is root.hints as the config repo carries it.
const RootHints = `.                    3600000 IN NS a.root-servers.net.
a.root-servers.net.  3600000 IN A  198.18.5.1
`

type nsdInstance struct {
	name  string
	ip    string
	zones [][2]string // origin, file
}

var nsdInstances = []nsdInstance{
	{"root", RootIP, [][2]string{{".", "root.zone"}}},
	{"tld", TLDIP, [][2]string{{"com.", "com.zone"}, {"net.", "net.zone"}}},
	{"sld", SLDIP, [][2]string{{"example.com.", "example.com.zone"}, {"example.net.", "example.net.zone"}}},
}

// startInternet writes the zones and NSD configurations under dir and
// starts the three NSD servers in the internet host's namespace.
func (l *Lab) startInternet() error {
	dir := filepath.Join(l.dir, "internet")
	zdir := filepath.Join(dir, "zones")
	if err := os.MkdirAll(zdir, 0o755); err != nil {
		return err
	}
	for f, z := range internetZones {
		if err := os.WriteFile(filepath.Join(zdir, f), []byte(z), 0o644); err != nil {
			return err
		}
	}
	h := l.net.hosts["inet"]
	for _, in := range nsdInstances {
		idir := filepath.Join(dir, in.name)
		if err := os.MkdirAll(idir, 0o755); err != nil {
			return err
		}
		srv := nsdconf.Server{Addr: in.ip, Dir: idir, ZonesDir: zdir}
		for _, z := range in.zones {
			srv.Zones = append(srv.Zones, nsdconf.Zone{Origin: z[0], File: z[1]})
		}
		conf := filepath.Join(idir, "nsd.conf")
		if err := os.WriteFile(conf, []byte(srv.Config()), 0o644); err != nil {
			return err
		}
		if out, err := run("nsd-checkconf", conf); err != nil {
			return fmt.Errorf("nsd config %s: %w: %s", conf, err, out)
		}
		if _, err := l.startProc("nsd-"+in.name, h, nil, "nsd", "-d", "-c", conf); err != nil {
			return err
		}
	}
	for _, in := range nsdInstances {
		origin := in.zones[0][0]
		if err := l.waitDNS(h.NS, in.ip, origin, "SOA"); err != nil {
			return fmt.Errorf("nsd %s did not come up: %w", in.name, err)
		}
	}
	return nil
}
