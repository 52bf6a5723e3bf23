package fastpath

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/miekg/dns"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The end-to-end tests run the product's server block on a real CoreDNS
// instance on 127.0.0.1: prometheus, gitops (serving a config repo the test
// commits to, testdata/e2e), fastpath, fallback, authority, recursor. The
// recursor forwards example. to real DNS servers on 127.0.0.1 that the
// tests run, blackhole or stop. Clients are miekg/dns clients over UDP
// (TCP where the chain's own view is wanted).

// e2eVars fill the templates of testdata/e2e.
type e2eVars struct {
	Port, Upstream, Crit, Stale int
	Serial                      int
	Swap                        [2]string
	Ext                         string
}

func defaultVars(port, upstream, crit, stale int) e2eVars {
	return e2eVars{Port: port, Upstream: upstream, Crit: crit, Stale: stale, Serial: 1,
		Swap: [2]string{"198.18.10.1", "198.18.10.2"}, Ext: "svc1.example."}
}

// testNode is one running resolverd server block.
type testNode struct {
	t        testing.TB
	addr     string // DNS, UDP and TCP
	metrics  string // prometheus endpoint
	sync     string // gitops POST /sync
	token    string
	repo     *configRepo
	inst     *caddy.Instance
	corefile string
}

const fastpathBlock = `fastpath {
        sockets 2
        cache   1000
    }`

// startNode commits vars to a new config repo and starts a node serving it
// on port; it returns once the node serves the commit.
func startNode(t testing.TB, vars e2eVars, fastpath string) *testNode {
	t.Helper()
	n := &testNode{t: t, addr: fmt.Sprintf("127.0.0.1:%d", vars.Port), token: "s3cret"}
	n.repo = newConfigRepo(t, os.DirFS("testdata/e2e"), vars)
	head := n.repo.commit("first revision")
	tmp := t.TempDir()
	tokenFile := filepath.Join(tmp, "token")
	if err := os.WriteFile(tokenFile, []byte(n.token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mport, hport := freePort(t), freePort(t)
	n.metrics = fmt.Sprintf("http://127.0.0.1:%d/metrics", mport)
	n.sync = fmt.Sprintf("http://127.0.0.1:%d/sync", hport)
	corefile := fmt.Sprintf(`.:%d {
    bind 127.0.0.1
    prometheus 127.0.0.1:%d
    gitops {
        repo    %s
        ref     refs/heads/master
        cluster dev
        node    local
        poll    1h
        probes  off
        state   %s
        http    127.0.0.1:%d
        sync_token_file %s
    }
    %s
    fallback {
        timeout 500ms
    }
    authority
    recursor {
        upstream_timeout 200ms
        deadline 1s
        stale_timeout 300ms
        failure_ttl 1s
        no_ipv6
    }
}
`, vars.Port, mport, n.repo.dir, filepath.Join(tmp, "state"), hport, tokenFile, fastpath)
	caddy.Quiet, dnsserver.Quiet = true, true
	inst, err := caddy.Start(caddy.CaddyfileInput{Contents: []byte(corefile), Filepath: "Corefile.fastpath-e2e", ServerTypeName: "dns"})
	if err != nil {
		t.Fatalf("%v\n%s", err, corefile)
	}
	n.inst, n.corefile = inst, corefile
	t.Cleanup(func() {
		// As SIGTERM does: the shutdown callbacks close the fast path's
		// sockets and end gitops's sync loop.
		n.inst.ShutdownCallbacks()
		n.inst.Stop()
	})
	n.waitRevision(head)
	return n
}

// waitRevision waits (bounded) until the node serves commit h.
func (n *testNode) waitRevision(h plumbing.Hash) {
	n.t.Helper()
	c := &dns.Client{Net: "tcp", Timeout: 2 * time.Second}
	served := ""
	for i := 0; i < 200 && served != h.String(); i++ {
		q := new(dns.Msg)
		q.SetQuestion("version.config.", dns.TypeTXT)
		q.Question[0].Qclass = dns.ClassCHAOS
		if r, _, err := c.Exchange(q, n.addr); err == nil && len(r.Answer) == 1 {
			served = strings.Join(r.Answer[0].(*dns.TXT).Txt, "")
		}
		if served != h.String() {
			time.Sleep(25 * time.Millisecond)
		}
	}
	if served != h.String() {
		n.t.Fatalf("node serves %q, want %s", served, h)
	}
}

// commit commits vars as a new revision and has the node sync it now
// (POST /sync), returning once the node serves it.
func (n *testNode) commit(vars e2eVars, msg string) {
	n.t.Helper()
	n.repo.apply(vars)
	h := n.repo.commit(msg)
	req, _ := http.NewRequest(http.MethodPost, n.sync, nil)
	req.Header.Set("Authorization", "Bearer "+n.token)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		n.t.Fatalf("POST /sync: %s", resp.Status)
	}
	n.waitRevision(h)
}

// exchange asks the node over UDP from the default source address.
func (n *testNode) exchange(name string, qtype uint16, edns bool) *dns.Msg {
	n.t.Helper()
	return n.exchangeFrom(nil, name, qtype, edns)
}

func (n *testNode) exchangeFrom(local net.Addr, name string, qtype uint16, edns bool) *dns.Msg {
	n.t.Helper()
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	if edns {
		q.SetEdns0(1232, false)
	}
	c := &dns.Client{Net: "udp", Timeout: 3 * time.Second, Dialer: &net.Dialer{LocalAddr: local, Timeout: 3 * time.Second}}
	r, _, err := c.Exchange(q, n.addr)
	if err != nil {
		n.t.Fatalf("%s %s: %v", name, dns.TypeToString[qtype], err)
	}
	return r
}

// metricsOf scrapes the node's /metrics.
func (n *testNode) scrape() map[string]*dto.MetricFamily {
	n.t.Helper()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(n.metrics)
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		n.t.Fatal(err)
	}
	return fams
}

// scrapeUntil scrapes until done holds for the scrape or 5 s have passed,
// and returns the last scrape: the chain counts a query after it wrote the
// answer, so a client holding it may scrape before it is counted.
func (n *testNode) scrapeUntil(done func(map[string]*dto.MetricFamily) bool) map[string]*dto.MetricFamily {
	n.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		fams := n.scrape()
		if done(fams) || time.Now().After(deadline) {
			return fams
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// metric sums the series of name whose labels include labels.
func metric(fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return 0
	}
	sum := 0.0
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum
}

// delta is how much a metric grew between two scrapes.
func delta(before, after map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	return metric(after, name, labels) - metric(before, name, labels)
}

func (n *testNode) server() string { return "dns://" + n.addr }

// fastCount is the fast path's own count of responses on one path.
func (n *testNode) fastCount(path string) float64 {
	return metric(n.scrape(), "coredns_fastpath_responses_total", map[string]string{"server": n.server(), "path": path})
}

// waitFast asks name until an answer comes from the fast path's path
// (the precomputed answers are built when the first query sees a new
// revision; until then every query takes the chain) and returns it. The
// packet cache learns a chain's answer after sending it: the client can
// ask again before it is stored.
func (n *testNode) waitFast(name string, qtype uint16, path string) *dns.Msg {
	n.t.Helper()
	return n.waitFastAs(name, qtype, true, path)
}

// waitFastAs is waitFast for a client with or without EDNS (the packet
// cache keeps their answers apart).
func (n *testNode) waitFastAs(name string, qtype uint16, edns bool, path string) *dns.Msg {
	n.t.Helper()
	for i := 0; i < 100; i++ {
		before := n.fastCount(path)
		r := n.exchange(name, qtype, edns)
		if n.fastCount(path) > before {
			return r
		}
		time.Sleep(20 * time.Millisecond)
	}
	n.t.Fatalf("%s %s (edns %t) never answered from %s", name, dns.TypeToString[qtype], edns, path)
	return nil
}

// upstream is a real DNS server on 127.0.0.1 standing for a forwarder: it
// answers A questions for the names it knows, with ttl.
type upstream struct {
	t       testing.TB
	addr    string
	ttl     uint32
	a       map[string]string
	queries atomic.Int64
	srv     *dns.Server
	once    sync.Once
}

// startUpstream starts one on addr ("" = a new port).
func startUpstream(t testing.TB, addr string, ttl uint32, a map[string]string) *upstream {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	u := &upstream{t: t, addr: pc.LocalAddr().String(), ttl: ttl, a: a}
	u.srv = &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		u.queries.Add(1)
		m := new(dns.Msg)
		m.SetReply(r)
		m.RecursionAvailable = true
		q := r.Question[0]
		ip, ok := u.a[strings.ToLower(q.Name)]
		switch {
		case !ok:
			m.Rcode = dns.RcodeNameError
			soa, _ := dns.NewRR("example. 60 IN SOA ns.example. h.example. 1 60 60 60 60")
			m.Ns = append(m.Ns, soa)
		case q.Qtype == dns.TypeA:
			rr, _ := dns.NewRR(fmt.Sprintf("%s %d IN A %s", q.Name, u.ttl, ip))
			m.Answer = append(m.Answer, rr)
		}
		w.WriteMsg(m)
	})}
	started := make(chan struct{})
	u.srv.NotifyStartedFunc = func() { close(started) }
	go u.srv.ActivateAndServe()
	<-started
	t.Cleanup(u.stop)
	return u
}

func (u *upstream) port() int { return u.srv.PacketConn.LocalAddr().(*net.UDPAddr).Port }

func (u *upstream) stop() { u.once.Do(func() { u.srv.Shutdown() }) }

// blackhole is a UDP socket that reads nothing and never answers.
func blackhole(t testing.TB) net.PacketConn {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc
}

func aRecords(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	return out
}

func ede(m *dns.Msg) *dns.EDNS0_EDE {
	if o := m.IsEdns0(); o != nil {
		for _, opt := range o.Option {
			if e, ok := opt.(*dns.EDNS0_EDE); ok {
				return e
			}
		}
	}
	return nil
}
