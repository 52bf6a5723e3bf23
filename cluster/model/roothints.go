package model

import (
	"fmt"
	"strings"

	"github.com/gitops-dns/resolverd/zones"
	"github.com/miekg/dns"
)

// ianaRootServers is the IANA root hints (named.root, https://www.iana.org/domains/root/files):
// the thirteen root server names with their IPv4 and IPv6 addresses. Used
// when policy.yaml names no root hints file.
var ianaRootServers = [13][3]string{
	{"a.root-servers.net.", "198.41.0.4", "2001:503:ba3e::2:30"},
	{"b.root-servers.net.", "170.247.170.2", "2801:1b8:10::b"},
	{"c.root-servers.net.", "192.33.4.12", "2001:500:2::c"},
	{"d.root-servers.net.", "199.7.91.13", "2001:500:2d::d"},
	{"e.root-servers.net.", "192.203.230.10", "2001:500:a8::e"},
	{"f.root-servers.net.", "192.5.5.241", "2001:500:2f::f"},
	{"g.root-servers.net.", "192.112.36.4", "2001:500:12::d0d"},
	{"h.root-servers.net.", "198.97.190.53", "2001:500:1::53"},
	{"i.root-servers.net.", "192.36.148.17", "2001:7fe::53"},
	{"j.root-servers.net.", "192.58.128.30", "2001:503:c27::2:30"},
	{"k.root-servers.net.", "193.0.14.129", "2001:7fd::1"},
	{"l.root-servers.net.", "199.7.83.42", "2001:500:9f::42"},
	{"m.root-servers.net.", "202.12.27.33", "2001:dc3::35"},
}

const rootHintsTTL = 3600000

// builtinRootHints is the parsed form of ianaRootServers: 13 NS records for
// the root followed by their A and AAAA records.
var builtinRootHints = func() []dns.RR {
	var ns, addrs []dns.RR
	for _, s := range ianaRootServers {
		ns = append(ns, mustRR(fmt.Sprintf(". %d IN NS %s", rootHintsTTL, s[0])))
		addrs = append(addrs,
			mustRR(fmt.Sprintf("%s %d IN A %s", s[0], rootHintsTTL, s[1])),
			mustRR(fmt.Sprintf("%s %d IN AAAA %s", s[0], rootHintsTTL, s[2])))
	}
	return append(ns, addrs...)
}()

func mustRR(s string) dns.RR {
	rr, err := dns.NewRR(s)
	if err != nil {
		panic(fmt.Sprintf("built-in record %q: %v", s, err))
	}
	return rr
}

// BuiltinRootHints returns a copy of the built-in IANA root hints.
func BuiltinRootHints() []dns.RR {
	out := make([]dns.RR, len(builtinRootHints))
	for i, rr := range builtinRootHints {
		out[i] = dns.Copy(rr)
	}
	return out
}

// EffectiveRootHints is the repo's root hints, or the built-in IANA hints
// when the repo names none.
func (r *Revision) EffectiveRootHints() []dns.RR {
	if len(r.RootHints) > 0 {
		return r.RootHints
	}
	return builtinRootHints
}

// ClusterByName returns the named cluster or nil.
func (r *Revision) ClusterByName(name string) *Cluster {
	for _, c := range r.Clusters {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// ClusterNames returns the names of the revision's clusters in file order
// (for messages that say which clusters there are).
func (r *Revision) ClusterNames() []string {
	names := make([]string, 0, len(r.Clusters))
	for _, c := range r.Clusters {
		names = append(names, c.Name)
	}
	return names
}

// Zone returns the zone with the given origin (any case, dot optional) or nil.
func (r *Revision) Zone(origin string) *zones.Zone {
	o := strings.ToLower(dns.Fqdn(origin))
	for _, z := range r.Zones {
		if z.Origin() == o {
			return z
		}
	}
	return nil
}
