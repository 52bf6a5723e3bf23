package cluster

import "net/netip"

// Address ranges no DNS server can be reached at, by construction.
var unreachablePrefixes = []struct {
	p   netip.Prefix
	why string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "in 0.0.0.0/8 (\"this network\", RFC 1122), never a destination"},
	{netip.MustParsePrefix("240.0.0.0/4"), "in 240.0.0.0/4 (reserved, RFC 1112), not routable"},
	{netip.MustParsePrefix("100::/64"), "in 100::/64 (discard-only, RFC 6666)"},
	{netip.MustParsePrefix("::/8"), "in ::/8 (reserved by the IETF)"},
}

// unusableAddr says why a is not an address a DNS server can listen on or
// be reached at, or "" when it is usable. Loopback is usable here: whether
// it is reachable depends on where it is used (see Check).
func unusableAddr(a netip.Addr) string {
	a = a.Unmap()
	switch {
	case !a.IsValid():
		return "not an address"
	case a.IsUnspecified():
		return "the unspecified address"
	case a.IsMulticast():
		return "a multicast address"
	case a.Is4() && a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "the broadcast address"
	case a.IsLoopback():
		return ""
	}
	for _, u := range unreachablePrefixes {
		if u.p.Contains(a) {
			return u.why
		}
	}
	return ""
}
