// Package zonetest generates zone files for tests and benchmarks. For
// tests only; no production code imports it.
package zonetest

import (
	"fmt"
	"strings"
)

// Mixed is the text of zone origin with n records, one owner each: the
// SOA (serial), an NS and its address, then A records, with a CNAME, an
// MX or an SRV in every tenth pointing at the A owner before it. Owner
// h<at> has the address addr (a one-record change between two calls).
func Mixed(origin string, n, serial, at int, addr string) string {
	var z strings.Builder
	z.Grow(n * 32)
	fmt.Fprintf(&z, "$ORIGIN %s\n$TTL 3600\n@ IN SOA ns1 hostmaster %d 7200 3600 1209600 300\n@ IN NS ns1\nns1 IN A 198.18.0.1\n", origin, serial)
	for i := range n - 3 {
		switch {
		case i == at:
			fmt.Fprintf(&z, "h%d IN A %s\n", i, addr)
		case i%30 == 9:
			fmt.Fprintf(&z, "c%d IN CNAME h%d\n", i, i-1)
		case i%30 == 19:
			fmt.Fprintf(&z, "m%d IN MX 10 h%d\n", i, i-1)
		case i%30 == 29:
			fmt.Fprintf(&z, "_s%d._tcp IN SRV 0 5 443 h%d\n", i, i-1)
		default:
			fmt.Fprintf(&z, "h%d IN A 10.%d.%d.%d\n", i, i>>16, i>>8&255, i&255)
		}
	}
	return z.String()
}
