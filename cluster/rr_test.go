package cluster

import (
	"fmt"

	"github.com/miekg/dns"
)

// mustRR parses a record the test wrote or panics.
func mustRR(s string) dns.RR {
	rr, err := dns.NewRR(s)
	if err != nil {
		panic(fmt.Sprintf("test record %q: %v", s, err))
	}
	return rr
}
