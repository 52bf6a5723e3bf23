package wire

import (
	"testing"

	"github.com/miekg/dns"
)

func TestMetaRcode(t *testing.T) {
	for _, tc := range []struct {
		qtype uint16
		rcode int
		meta  bool
	}{
		{0, dns.RcodeFormatError, true},
		{dns.TypeOPT, dns.RcodeFormatError, true},
		{dns.TypeTSIG, dns.RcodeFormatError, true},
		{128, dns.RcodeFormatError, true},
		{248, dns.RcodeFormatError, true},
		{65535, dns.RcodeFormatError, true},
		{dns.TypeTKEY, dns.RcodeNotImplemented, true},
		{dns.TypeMAILA, dns.RcodeNotImplemented, true},
		{dns.TypeMAILB, dns.RcodeNotImplemented, true},
		{dns.TypeAXFR, dns.RcodeRefused, true},
		{dns.TypeIXFR, dns.RcodeRefused, true},
		{dns.TypeA, 0, false},
		{dns.TypeANY, 0, false},
		{dns.TypeDS, 0, false},
		{dns.TypeCAA, 0, false}, // 257: a data type above the meta range
		{127, 0, false},
		{65534, 0, false},
	} {
		rcode, meta := MetaRcode(tc.qtype)
		if rcode != tc.rcode || meta != tc.meta || IsMeta(tc.qtype) != tc.meta {
			t.Errorf("TYPE%d: %s %v, want %s %v", tc.qtype, dns.RcodeToString[rcode], meta, dns.RcodeToString[tc.rcode], tc.meta)
		}
	}
}
