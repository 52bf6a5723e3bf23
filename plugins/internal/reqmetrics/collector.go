package reqmetrics

import (
	"strings"
	"sync"

	"github.com/coredns/coredns/plugin/metrics/vars"
	"github.com/coredns/coredns/plugin/pkg/rcode"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

var (
	once   sync.Once
	counts *Table
)

// shardsPerCore keeps concurrent queries of one core's neighbours off its
// lock most of the time (Lock tries the others before waiting).
const shardsPerCore = 4

// Counts is the process's table. Its first call takes CoreDNS's six request
// metric vectors off the default registry (the one the prometheus plugin
// serves) and registers in their place one collector that exports each of
// them merged with the table: CoreDNS keeps counting in its vectors what
// never reaches a chain we count (a query its server drops or refuses
// before the chain, a block without fastpath), and a series is exported
// once, with both sums.
func Counts() *Table {
	once.Do(func() {
		counts = NewTable(shardsPerCore * runtimeCores())
		c := newCollector(counts, prometheus.DefaultRegisterer)
		prometheus.DefaultRegisterer.MustRegister(c)
	})
	return counts
}

// family is one exported metric: CoreDNS's vector (its descriptor and the
// values it counted itself) and the label names of its series, in order.
type family struct {
	vec    prometheus.Collector
	desc   *prometheus.Desc
	labels []string
	hist   []float64 // bucket bounds; nil for a counter
	// add puts one key's counts of the table into the family's series.
	add func(s *series, k *Key, r *row)
}

// series is one family's values by label values.
type series struct {
	f       *family
	byKey   map[string]*value
	ordered []*value
}

type value struct {
	labels []string
	n      float64 // a counter's value
	h      hist    // a histogram's
}

func (s *series) at(lvs ...string) *value {
	k := strings.Join(lvs, "\xff")
	v := s.byKey[k]
	if v == nil {
		v = &value{labels: append([]string(nil), lvs...)}
		if s.f.hist != nil {
			v.h = newHist(s.f.hist)
		}
		s.byKey[k] = v
		s.ordered = append(s.ordered, v)
	}
	return v
}

type collector struct {
	t        *Table
	families []*family
}

func newCollector(t *Table, reg prometheus.Registerer) *collector {
	fam := func(vec prometheus.Collector, hist []float64, labels []string, add func(s *series, k *Key, r *row)) *family {
		reg.Unregister(vec)
		return &family{vec: vec, desc: descOf(vec), labels: labels, hist: hist, add: add}
	}
	return &collector{t: t, families: []*family{
		fam(vars.RequestCount, nil, []string{"server", "zone", "view", "proto", "family", "type"}, func(s *series, k *Key, r *row) {
			s.at(k.Server, k.Zone, k.View, k.Proto.String(), familyLabel(k.Family), qtypeLabel(k.QType)).n += float64(r.n)
		}),
		fam(vars.RequestDo, nil, []string{"server", "zone", "view"}, func(s *series, k *Key, r *row) {
			if k.DO {
				s.at(k.Server, k.Zone, k.View).n += float64(r.n)
			}
		}),
		fam(vars.RequestDuration, durationBuckets, []string{"server", "zone", "view"}, func(s *series, k *Key, r *row) {
			s.at(k.Server, k.Zone, k.View).h.add(&r.duration)
		}),
		fam(vars.RequestSize, sizeBuckets, []string{"server", "zone", "view", "proto"}, func(s *series, k *Key, r *row) {
			s.at(k.Server, k.Zone, k.View, k.Proto.String()).h.add(&r.req)
		}),
		fam(vars.ResponseSize, sizeBuckets, []string{"server", "zone", "view", "proto"}, func(s *series, k *Key, r *row) {
			s.at(k.Server, k.Zone, k.View, k.Proto.String()).h.add(&r.res)
		}),
		fam(vars.ResponseRcode, nil, []string{"server", "zone", "view", "rcode", "plugin"}, func(s *series, k *Key, r *row) {
			s.at(k.Server, k.Zone, k.View, rcode.ToString(k.Rcode), k.Plugin).n += float64(r.n)
		}),
	}}
}

func descOf(c prometheus.Collector) *prometheus.Desc {
	ch := make(chan *prometheus.Desc, 1)
	c.Describe(ch)
	return <-ch
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, f := range c.families {
		ch <- f.desc
	}
}

// Collect implements prometheus.Collector: the table folded, plus what
// CoreDNS counted in its vectors.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	all := make([]*series, len(c.families))
	for i, f := range c.families {
		all[i] = &series{f: f, byKey: map[string]*value{}}
		f.merge(all[i])
	}
	c.t.each(func(k *Key, r *row) {
		for _, s := range all {
			s.f.add(s, k, r)
		}
	})
	for _, s := range all {
		for _, v := range s.ordered {
			if s.f.hist == nil {
				ch <- prometheus.MustNewConstMetric(s.f.desc, prometheus.CounterValue, v.n, v.labels...)
				continue
			}
			total, cum := uint64(0), make(map[float64]uint64, len(s.f.hist))
			for i, b := range s.f.hist {
				total += v.h.counts[i]
				cum[b] = total
			}
			total += v.h.counts[len(s.f.hist)]
			ch <- prometheus.MustNewConstHistogram(s.f.desc, total, v.h.sum, cum, v.labels...)
		}
	}
}

// merge adds the values of CoreDNS's own vector to s.
func (f *family) merge(s *series) {
	ch := make(chan prometheus.Metric, 64)
	go func() {
		f.vec.Collect(ch)
		close(ch)
	}()
	lvs := make([]string, len(f.labels))
	for m := range ch {
		var d dto.Metric
		if m.Write(&d) != nil {
			continue
		}
		for i, name := range f.labels {
			lvs[i] = ""
			for _, lp := range d.GetLabel() {
				if lp.GetName() == name {
					lvs[i] = lp.GetValue()
				}
			}
		}
		v := s.at(lvs...)
		if f.hist == nil {
			v.n += d.GetCounter().GetValue()
			continue
		}
		h := d.GetHistogram()
		var below uint64
		for _, b := range h.GetBucket() {
			if i := bucketOf(f.hist, b.GetUpperBound()); i >= 0 {
				v.h.counts[i] += b.GetCumulativeCount() - below
				below = b.GetCumulativeCount()
			}
		}
		v.h.counts[len(f.hist)] += h.GetSampleCount() - below
		v.h.sum += h.GetSampleSum()
	}
}

// bucketOf is the index of the bound b in bounds, or -1.
func bucketOf(bounds []float64, b float64) int {
	for i, x := range bounds {
		if x == b {
			return i
		}
	}
	return -1
}

func familyLabel(f uint8) string {
	if f == 2 {
		return "2"
	}
	return "1"
}

// qtypeLabel names a query type as CoreDNS's request counter does: the
// types it monitors by name, the rest "other".
func qtypeLabel(t uint16) string {
	if monitored[t] {
		return dns.Type(t).String()
	}
	return "other"
}

// monitored are the query types CoreDNS's request metrics name, as in its
// vars package (monitorType).
var monitored = map[uint16]bool{
	dns.TypeAAAA: true, dns.TypeA: true, dns.TypeCNAME: true, dns.TypeDNSKEY: true, dns.TypeDS: true,
	dns.TypeMX: true, dns.TypeNSEC3: true, dns.TypeNSEC: true, dns.TypeNS: true, dns.TypePTR: true,
	dns.TypeRRSIG: true, dns.TypeSOA: true, dns.TypeSRV: true, dns.TypeTXT: true, dns.TypeHTTPS: true,
	dns.TypeSVCB: true, dns.TypeIXFR: true, dns.TypeAXFR: true, dns.TypeANY: true,
}
