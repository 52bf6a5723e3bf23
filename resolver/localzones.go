package resolver

import (
	"net"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// Special-use names are answered here and never leave the resolver: the
// root has nothing to say about them and asking it leaks internal names
// (RFC 6761 6.1-6.4, RFC 6762 3, RFC 7686 2, RFC 8375 3, RFC 6303 3).
// The set is Unbound's default local zones plus local. and the private-use
// internal. (ICANN, 2024). A forward rule or a stub zone (an internal
// delegation) of the repository covering the name wins: the repository
// said where it lives. Zones the repository serves never get here (the
// authority plugin answers them first).

const localTTL = 10800 // Unbound's default local-zone TTL and SOA timers

// localZones maps each special-use zone to how names in it are answered.
var localZones = func() map[string]localKind {
	m := map[string]localKind{
		"localhost.": localLoopback, // RFC 6761 6.3
		"invalid.":   localNX,       // RFC 6761 6.4
		"test.":      localNX,       // RFC 6761 6.2
		"onion.":     localNX,       // RFC 7686 2
		"local.":     localNX,       // RFC 6762 3: multicast DNS only
		"home.arpa.": localNX,       // RFC 8375 3
		"internal.":  localNX,       // private use, never delegated
		// RFC 6303 4.1-4.3: private, loopback, link-local, documentation,
		// "this network" and broadcast reverse zones.
		"0.in-addr.arpa.":                             localNX,
		"10.in-addr.arpa.":                            localNX,
		"127.in-addr.arpa.":                           localReverseLoopback,
		"254.169.in-addr.arpa.":                       localNX,
		"168.192.in-addr.arpa.":                       localNX,
		"2.0.192.in-addr.arpa.":                       localNX,
		"100.51.198.in-addr.arpa.":                    localNX,
		"113.0.203.in-addr.arpa.":                     localNX,
		"255.255.255.255.in-addr.arpa.":               localNX,
		"d.f.ip6.arpa.":                               localNX, // fd00::/8 unique local
		"8.e.f.ip6.arpa.":                             localNX, // fe80::/10 link local
		"9.e.f.ip6.arpa.":                             localNX,
		"a.e.f.ip6.arpa.":                             localNX,
		"b.e.f.ip6.arpa.":                             localNX,
		"8.b.d.0.1.0.0.2.ip6.arpa.":                   localNX,              // 2001:db8::/32 documentation
		strings.Repeat("0.", 32) + "ip6.arpa.":        localNX,              // ::
		"1." + strings.Repeat("0.", 31) + "ip6.arpa.": localReverseLoopback, // ::1
	}
	for i := 16; i <= 31; i++ { // 172.16.0.0/12
		m[strconv.Itoa(i)+".172.in-addr.arpa."] = localNX
	}
	for i := 64; i <= 127; i++ { // 100.64.0.0/10 (RFC 6598)
		m[strconv.Itoa(i)+".100.in-addr.arpa."] = localNX
	}
	return m
}()

type localKind int

const (
	localNX              localKind = iota // NXDOMAIN below the apex, NODATA at it (SOA answers SOA)
	localLoopback                         // every name: A 127.0.0.1, AAAA ::1
	localReverseLoopback                  // the loopback address's PTR is localhost.
)

// localZone returns the special-use zone covering name (lower case,
// absolute), if any: a walk up its labels, at most one map look-up each.
func localZone(name string) (string, localKind, bool) {
	for i, end := 0, false; !end; i, end = dns.NextLabel(name, i) {
		if k, ok := localZones[name[i:]]; ok {
			return name[i:], k, true
		}
	}
	return "", 0, false
}

// local answers name/qtype when it is a special-use name the repository
// does not route anywhere (no stub zone and no forward rule other than
// the catch-all "." covers it).
func (r *Resolver) local(name string, qtype uint16) (outcome, bool) {
	zone, kind, ok := localZone(name)
	if !ok || r.stubCovers(name) {
		return outcome{}, false
	}
	if rule := r.forwardRule(name); rule != nil && rule.Zone != "." {
		// A rule naming the zone or one above it (in-addr.arpa. to the
		// company's own DNS) routes it; forwarding everything (".") is
		// no word about these names, which stay here (RFC 6762 3: .local
		// must not leak to unicast DNS).
		return outcome{}, false
	}
	out := outcome{target: name, status: statusNODATA}
	hdr := func(t uint16) dns.RR_Header {
		return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: localTTL}
	}
	switch {
	case kind == localLoopback && qtype == dns.TypeA:
		out.chain = []dns.RR{&dns.A{Hdr: hdr(dns.TypeA), A: net.IPv4(127, 0, 0, 1).To4()}}
	case kind == localLoopback && qtype == dns.TypeAAAA:
		out.chain = []dns.RR{&dns.AAAA{Hdr: hdr(dns.TypeAAAA), AAAA: net.IPv6loopback}}
	case kind == localReverseLoopback && qtype == dns.TypePTR && (name == "1.0.0.127.in-addr.arpa." || name == zone && zone != "127.in-addr.arpa."):
		out.chain = []dns.RR{&dns.PTR{Hdr: hdr(dns.TypePTR), Ptr: "localhost."}}
	case name == zone && qtype == dns.TypeSOA:
		out.chain = []dns.RR{localSOA(zone)}
	case name == zone || kind == localLoopback || name == "1.0.0.127.in-addr.arpa.":
		// the name exists, not with this type: NODATA
	default:
		out.status = statusNXDOMAIN
	}
	if len(out.chain) > 0 {
		out.status = statusAnswer
	} else {
		out.soa = []dns.RR{localSOA(zone)}
	}
	return out, true
}

func localSOA(zone string) dns.RR {
	return &dns.SOA{Hdr: dns.RR_Header{Name: zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: localTTL},
		Ns: "localhost.", Mbox: "nobody.invalid.", Serial: 1, Refresh: 3600, Retry: 1200, Expire: 604800, Minttl: localTTL}
}

// stubCovers reports whether a stub zone (an internal delegation) holds
// name.
func (r *Resolver) stubCovers(name string) bool {
	stubs := r.dyn.Load().stubs
	if len(stubs) == 0 {
		return false
	}
	for i, end := 0, false; !end; i, end = dns.NextLabel(name, i) {
		if _, ok := stubs[name[i:]]; ok {
			return true
		}
	}
	return false
}
