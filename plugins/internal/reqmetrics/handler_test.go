package reqmetrics

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
	"testing"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/metrics"
	"github.com/coredns/coredns/plugin/metrics/vars"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// scripted answers each query as its name says: nx (NXDOMAIN), fail (no
// write, SERVFAIL returned: the server writes it), raw (written as bytes),
// big (30 TXT records), anything else one A record.
type scripted struct{}

func (scripted) Name() string { return "errors" }
func (scripted) ServeDNS(_ context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Compress = true
	name := r.Question[0].Name
	switch {
	case strings.HasPrefix(name, "fail."):
		return dns.RcodeServerFailure, nil
	case strings.HasPrefix(name, "nx."):
		m.Rcode = dns.RcodeNameError
	case strings.HasPrefix(name, "big."):
		for i := 0; i < 30; i++ {
			m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: []string{strings.Repeat("x", 40)}})
		}
	default:
		m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(198, 18, 0, 1)}}
	}
	if strings.HasPrefix(name, "raw.") {
		b, _ := m.Pack()
		w.Write(b)
		return dns.RcodeSuccess, nil
	}
	w.WriteMsg(m)
	return dns.RcodeSuccess, nil
}

type query struct {
	name  string
	qtype uint16
	do    bool
	from  net.Addr
}

var (
	v4  = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1).To4(), Port: 5300}
	v6  = &net.UDPAddr{IP: net.IPv6loopback, Port: 5300}
	tcp = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2).To4(), Port: 5300}
)

var queries = []query{
	{"www.example.", dns.TypeA, false, v4},
	{"www.example.", dns.TypeA, true, v4},
	{"WWW.Corp.Internal.", dns.TypeAAAA, false, v6},
	{"x.corp.internal.", dns.TypeMX, true, tcp},
	{"x.corp.internal.", dns.TypeNAPTR, false, v4}, // "other"
	{"nx.example.", dns.TypeA, false, v4},
	{"fail.corp.internal.", dns.TypeA, false, tcp},
	{"raw.example.", dns.TypeTXT, false, v6},
	{"big.corp.internal.", dns.TypeTXT, true, v4},
}

func run(h plugin.Handler, reps int) {
	srv := &dnsserver.Server{Addr: "dns://127.0.0.1:53"}
	ctx := context.WithValue(context.Background(), dnsserver.Key{}, srv)
	for i := 0; i < reps; i++ {
		for _, q := range queries {
			m := new(dns.Msg)
			m.SetQuestion(q.name, q.qtype)
			if q.do {
				m.SetEdns0(1232, true)
			}
			h.ServeDNS(ctx, &discard{from: q.from}, m)
		}
	}
}

// gather returns every request metric's series as "name{labels} field=value"
// lines, sorted; durations only by count (their buckets depend on time).
func gather(t *testing.T, g prometheus.Gatherer) []string {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "coredns_dns_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, lp := range m.GetLabel() {
				ls = append(ls, lp.GetName()+"="+lp.GetValue())
			}
			id := mf.GetName() + "{" + strings.Join(ls, ",") + "}"
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				out = append(out, fmt.Sprintf("%s %v", id, m.GetCounter().GetValue()))
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				out = append(out, fmt.Sprintf("%s count=%d", id, h.GetSampleCount()))
				if strings.Contains(mf.GetName(), "duration") {
					continue
				}
				out = append(out, fmt.Sprintf("%s sum=%v", id, h.GetSampleSum()))
				for _, b := range h.GetBucket() {
					out = append(out, fmt.Sprintf("%s le=%v %d", id, b.GetUpperBound(), b.GetCumulativeCount()))
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

var requestVecs = []interface{ Reset() }{vars.RequestCount, vars.RequestDo, vars.RequestDuration, vars.RequestSize, vars.ResponseSize, vars.ResponseRcode}

func resetVecs() {
	for _, v := range requestVecs {
		v.Reset()
	}
}

// vecRegistry is a registry of CoreDNS's six vectors alone: what its
// prometheus plugin exports.
func vecRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(vars.RequestCount, vars.RequestDo, vars.RequestDuration, vars.RequestSize, vars.ResponseSize, vars.ResponseRcode)
	return reg
}

// TestSameSeriesAsCoreDNS: the same queries (address families, TCP, DO,
// monitored and other types, NXDOMAIN, a plugin that writes nothing, raw
// writes, a large compressed answer, two zones and a name in neither)
// through CoreDNS's prometheus handler and through Handler export the same
// series with the same values, sizes bucket by bucket.
func TestSameSeriesAsCoreDNS(t *testing.T) {
	newMetrics := func() *metrics.Metrics {
		m := metrics.New("127.0.0.1:0")
		m.AddZone("corp.internal.")
		m.AddZone("example.")
		return m
	}
	resetVecs()
	defer resetVecs()
	theirs := newMetrics()
	theirs.Next = scripted{}
	run(theirs, 3)
	want := gather(t, vecRegistry())

	resetVecs()
	table := NewTable(2)
	ours := &Handler{m: newMetrics(), next: scripted{}, t: table}
	run(ours, 3)
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(table, reg))
	got := gather(t, reg)

	if len(want) == 0 {
		t.Fatal("CoreDNS's handler counted nothing")
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("series differ\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(want, "\n      "))
	}
}

// TestMergedWithCoreDNSCounts: a series CoreDNS still counts itself (a
// query its server refused before any chain) and the table counts too is
// exported once, with both sums; the registry gathers without a duplicate.
func TestMergedWithCoreDNSCounts(t *testing.T) {
	resetVecs()
	defer resetVecs()
	vars.RequestCount.WithLabelValues("dns://127.0.0.1:53", ".", "", "udp", "1", "A").Add(2)
	vars.ResponseSize.WithLabelValues("dns://127.0.0.1:53", ".", "", "udp").Observe(150)

	table := NewTable(3)
	k := Key{Server: "dns://127.0.0.1:53", Zone: ".", Plugin: "authority", QType: dns.TypeA, Family: 1}
	for i := 0; i < 5; i++ {
		table.Add(&k, &Observation{ReqSize: 40, RespSize: 150 + i})
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(table, reg))
	got := strings.Join(gather(t, reg), "\n") + "\n"
	for _, want := range []string{
		`coredns_dns_requests_total{family=1,proto=udp,server=dns://127.0.0.1:53,type=A,view=,zone=.} 7`,
		`coredns_dns_response_size_bytes{proto=udp,server=dns://127.0.0.1:53,view=,zone=.} count=6`,
		`coredns_dns_response_size_bytes{proto=udp,server=dns://127.0.0.1:53,view=,zone=.} sum=910`,
		`coredns_dns_response_size_bytes{proto=udp,server=dns://127.0.0.1:53,view=,zone=.} le=100 0`,
		`coredns_dns_response_size_bytes{proto=udp,server=dns://127.0.0.1:53,view=,zone=.} le=200 6`,
		`coredns_dns_responses_total{plugin=authority,rcode=NOERROR,server=dns://127.0.0.1:53,view=,zone=.} 5`,
	} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("missing %s in\n%s", want, got)
		}
	}
}

// TestBucketsAreCoreDNSs: the table's histograms have the buckets of
// CoreDNS's vectors (a merge needs the same bounds).
func TestBucketsAreCoreDNSs(t *testing.T) {
	for _, c := range []struct {
		vec    *prometheus.HistogramVec
		labels []string
		bounds []float64
	}{
		{vars.RequestDuration, []string{"bucket-test", ".", ""}, durationBuckets},
		{vars.RequestSize, []string{"bucket-test", ".", "", "udp"}, sizeBuckets},
		{vars.ResponseSize, []string{"bucket-test", ".", "", "udp"}, sizeBuckets},
	} {
		o := c.vec.WithLabelValues(c.labels...)
		var d dto.Metric
		if err := o.(prometheus.Metric).Write(&d); err != nil {
			t.Fatal(err)
		}
		c.vec.DeleteLabelValues(c.labels...)
		var got []float64
		for _, b := range d.GetHistogram().GetBucket() {
			got = append(got, b.GetUpperBound())
		}
		if fmt.Sprint(got) != fmt.Sprint(c.bounds) {
			t.Errorf("buckets %v, CoreDNS's %v", c.bounds, got)
		}
	}
}
