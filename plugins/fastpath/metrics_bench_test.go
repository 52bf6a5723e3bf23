package fastpath

import (
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/fastpath"
)

// BenchmarkFastMetrics is the fast path's metrics for the responses of one
// read batch of 16 (what a loaded read loop answers at once: prebuilt and
// packet-cache answers, A and AAAA, a NXDOMAIN, a DO query), reported per
// response, in wall and CPU time.
func BenchmarkFastMetrics(b *testing.B) {
	m := newFastMetrics("dns://127.0.0.1:53", ".")
	rs := make([]fastpath.Response, 16)
	for i := range rs {
		rs[i] = fastpath.Response{Path: fastpath.Path(i % 2), QType: dns.TypeA, ReqSize: 46, RespSize: 80, Family: 1}
		if i%3 == 0 {
			rs[i].QType = dns.TypeAAAA
		}
	}
	rs[5].Rcode, rs[7].DO = dns.RcodeNameError, true
	var ru0, ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.Answered(rs, 50*time.Microsecond)
	}
	b.StopTimer()
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	n := float64(b.N * len(rs))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/response")
	b.ReportMetric(float64(ru1.Utime.Nano()+ru1.Stime.Nano()-ru0.Utime.Nano()-ru0.Stime.Nano())/n, "cpu-ns/response")
}
