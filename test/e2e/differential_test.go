package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/internal/nsdconf"
	"github.com/gitops-dns/resolverd/internal/proctest"
)

// The differential test: the same 500 questions (A, AAAA, MX, TXT, CNAME
// chains inside and across zones, DNAME, wildcards, NXDOMAIN at several
// depths, NODATA, a delegated subzone, glueless and out-of-bailiwick NS
// names, DS at the parent, special-use names) resolved by resolverd (the real binary) and by Unbound, both
// iterating from the same root over a fake internet of NSD servers on
// loopback port 53; rcode and answer RRsets (TTLs aside) must agree.
//
//	127.77.0.1  .                                   (root)
//	127.77.0.2  com. net. org.                      (TLDs)
//	127.77.0.3  example.com. example.net. cross.org.
//	127.77.0.4  example.com. (its second server) sub.example.com.
//	            shop.com. hosting.net.
const (
	diffRoot = "127.77.0.1"
	diffTLD  = "127.77.0.2"
	diffAuth = "127.77.0.3"
	diffAux  = "127.77.0.4"
)

// diffInternet is the zone data and the questions, from a fixed seed.
type diffInternet struct {
	zones     map[string][]string // origin -> zone file lines
	questions []dns.Question
}

func genDiffInternet() *diffInternet {
	rng := rand.New(rand.NewPCG(15, 2026))
	d := &diffInternet{zones: map[string][]string{}}
	soa := func(origin, ns string) string {
		return fmt.Sprintf("%s 3600 IN SOA %s hostmaster.%s 1 7200 3600 1209600 300", origin, ns, strings.TrimPrefix(origin, "."))
	}
	d.zones["."] = []string{
		soa(".", "a.root-servers.net."),
		". 518400 IN NS a.root-servers.net.",
		"a.root-servers.net. 518400 IN A " + diffRoot,
		"com. 172800 IN NS ns1.nic.com.", "ns1.nic.com. 172800 IN A " + diffTLD,
		"net. 172800 IN NS ns1.nic.net.", "ns1.nic.net. 172800 IN A " + diffTLD,
		"org. 172800 IN NS ns1.nic.org.", "org. 172800 IN NS ns1.nic.net.", "ns1.nic.org. 172800 IN A " + diffTLD,
	}
	d.zones["com."] = []string{
		soa("com.", "ns1.nic.com."), "com. 172800 IN NS ns1.nic.com.", "ns1.nic.com. 172800 IN A " + diffTLD,
		"example.com. 172800 IN NS ns1.example.com.", "example.com. 172800 IN NS ns2.example.com.",
		"ns1.example.com. 172800 IN A " + diffAuth, "ns2.example.com. 172800 IN A " + diffAux,
		"shop.com. 172800 IN NS ns.hosting.net.", // glueless, out of bailiwick
		// A DS set lives on the parent's side of the cut (RFC 4035 3.1.4.1).
		"example.com. 86400 IN DS 12345 13 2 " + strings.Repeat("ab", 32),
	}
	d.zones["net."] = []string{
		soa("net.", "ns1.nic.net."), "net. 172800 IN NS ns1.nic.net.", "ns1.nic.net. 172800 IN A " + diffTLD,
		"example.net. 172800 IN NS ns1.example.net.", "ns1.example.net. 172800 IN A " + diffAuth,
		"hosting.net. 172800 IN NS ns1.hosting.net.", "ns1.hosting.net. 172800 IN A " + diffAux,
	}
	d.zones["org."] = []string{
		soa("org.", "ns1.nic.org."), "org. 172800 IN NS ns1.nic.org.", "org. 172800 IN NS ns1.nic.net.", "ns1.nic.org. 172800 IN A " + diffTLD,
		"cross.org. 172800 IN NS ns1.example.com.", // a name in another TLD
	}
	ip4 := func() string { return fmt.Sprintf("192.0.%d.%d", rng.IntN(3), 1+rng.IntN(254)) }
	ip6 := func() string { return fmt.Sprintf("2001:db8:%x::%x", rng.IntN(65536), 1+rng.IntN(65535)) }

	ex := []string{
		soa("example.com.", "ns1.example.com."),
		"example.com. 3600 IN NS ns1.example.com.", "example.com. 3600 IN NS ns2.example.com.",
		"ns1.example.com. 3600 IN A " + diffAuth, "ns2.example.com. 3600 IN A " + diffAux,
		"example.com. 3600 IN MX 10 mail.example.com.", "mail.example.com. 3600 IN A " + ip4(),
		"sub.example.com. 3600 IN NS ns.sub.example.com.", "ns.sub.example.com. 3600 IN A " + diffAux,
		"*.wild.example.com. 3600 IN A 192.0.2.200", "*.wild.example.com. 3600 IN TXT \"wild\"",
		"legacy.example.com. 3600 IN DNAME example.net.",
		"deep.ent.example.com. 3600 IN A " + ip4(),
		"sub.example.com. 3600 IN DS 23456 13 2 " + strings.Repeat("cd", 32),
	}
	var hosts, netHosts []string
	for i := 0; i < 150; i++ {
		h := fmt.Sprintf("host-%03d.example.com.", i)
		hosts = append(hosts, h)
		ex = append(ex, h+" 3600 IN A "+ip4())
		if i%3 == 0 {
			ex = append(ex, h+" 3600 IN AAAA "+ip6())
		}
		if i%5 == 0 {
			ex = append(ex, fmt.Sprintf("%s 3600 IN TXT \"host %d\"", h, i))
			ex = append(ex, fmt.Sprintf("%s 3600 IN MX %d mail.example.com.", h, 10+i%3))
		}
	}
	en := []string{
		soa("example.net.", "ns1.example.net."),
		"example.net. 3600 IN NS ns1.example.net.", "ns1.example.net. 3600 IN A " + diffAuth,
	}
	for i := 0; i < 80; i++ {
		h := fmt.Sprintf("node-%02d.example.net.", i)
		netHosts = append(netHosts, h)
		en = append(en, h+" 3600 IN A "+ip4())
		if i%4 == 0 {
			en = append(en, h+" 3600 IN AAAA "+ip6())
		}
	}
	var aliases, external []string
	for i := 0; i < 60; i++ {
		a := fmt.Sprintf("alias-%02d.example.com.", i)
		aliases = append(aliases, a)
		ex = append(ex, a+" 3600 IN CNAME "+hosts[rng.IntN(len(hosts))])
	}
	for i := 0; i < 30; i++ {
		a := fmt.Sprintf("ext-%02d.example.com.", i)
		external = append(external, a)
		ex = append(ex, a+" 3600 IN CNAME "+netHosts[rng.IntN(len(netHosts))])
	}
	ex = append(ex, "chain.example.com. 3600 IN CNAME alias-00.example.com.", "dangling.example.com. 3600 IN CNAME gone.example.net.")
	d.zones["example.com."] = ex
	d.zones["example.net."] = en

	// hostsIn adds n A records named by format to zone, returning the names.
	hostsIn := func(zone *[]string, format string, n int) []string {
		var names []string
		for i := 0; i < n; i++ {
			h := fmt.Sprintf(format, i)
			names = append(names, h)
			*zone = append(*zone, h+" 3600 IN A "+ip4())
		}
		return names
	}
	sub := []string{soa("sub.example.com.", "ns.sub.example.com."), "sub.example.com. 3600 IN NS ns.sub.example.com.", "ns.sub.example.com. 3600 IN A " + diffAux}
	subHosts := hostsIn(&sub, "s%02d.sub.example.com.", 40)
	d.zones["sub.example.com."] = sub
	shop := []string{soa("shop.com.", "ns.hosting.net."), "shop.com. 3600 IN NS ns.hosting.net.", "www.shop.com. 3600 IN CNAME shop.com.", "shop.com. 3600 IN A " + ip4()}
	shopHosts := hostsIn(&shop, "item-%02d.shop.com.", 20)
	d.zones["shop.com."] = shop
	d.zones["hosting.net."] = []string{soa("hosting.net.", "ns1.hosting.net."), "hosting.net. 3600 IN NS ns1.hosting.net.",
		"ns1.hosting.net. 3600 IN A " + diffAux, "ns.hosting.net. 3600 IN A " + diffAux}
	cross := []string{soa("cross.org.", "ns1.example.com."), "cross.org. 3600 IN NS ns1.example.com."}
	crossHosts := hostsIn(&cross, "c%02d.cross.org.", 20)
	d.zones["cross.org."] = cross

	q := func(name string, t uint16) {
		d.questions = append(d.questions, dns.Question{Name: name, Qtype: t, Qclass: dns.ClassINET})
	}
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	for i := 0; i < 108; i++ {
		q(hosts[i], dns.TypeA)
	}
	for i := 0; i < 40; i++ {
		q(pick(hosts), dns.TypeAAAA) // two thirds NODATA
	}
	for i := 0; i < 20; i++ {
		q(pick(hosts), dns.TypeTXT)
	}
	for i := 0; i < 15; i++ {
		q(pick(hosts), dns.TypeMX)
	}
	for i := 0; i < 50; i++ {
		q(aliases[i], dns.TypeA)
	}
	for i := 0; i < 30; i++ {
		q(external[i], dns.TypeA)
	}
	for i := 0; i < 35; i++ {
		q(fmt.Sprintf("w%03d.wild.example.com.", i), []uint16{dns.TypeA, dns.TypeTXT, dns.TypeAAAA}[i%3])
	}
	for i := 0; i < 40; i++ {
		q(subHosts[i], dns.TypeA)
	}
	for i := 0; i < 40; i++ {
		q(netHosts[i], []uint16{dns.TypeA, dns.TypeAAAA}[i%2])
	}
	for i := 0; i < 20; i++ {
		q(shopHosts[i], dns.TypeA)
	}
	for i := 0; i < 20; i++ {
		q(crossHosts[i], dns.TypeA)
	}
	for i := 0; i < 15; i++ {
		q(fmt.Sprintf("node-%02d.legacy.example.com.", i), dns.TypeA)
	}
	nx := []string{"nx-%d.example.com.", "nx-%d.example.net.", "nx-%d.sub.example.com.", "nx%d.com.", "a.b.nx-%d.example.com.", "nx-%d.shop.com.", "nx-%d.cross.org."}
	for i := 0; i < 35; i++ {
		q(fmt.Sprintf(nx[i%len(nx)], i), dns.TypeA)
	}
	for _, s := range []struct {
		name string
		t    uint16
	}{
		{"example.com.", dns.TypeMX}, {"example.com.", dns.TypeNS}, {"example.com.", dns.TypeSOA}, {"mail.example.com.", dns.TypeA},
		{"chain.example.com.", dns.TypeA}, {"dangling.example.com.", dns.TypeA}, {"www.shop.com.", dns.TypeA}, {"shop.com.", dns.TypeA},
		{"ent.example.com.", dns.TypeA}, {"deep.ent.example.com.", dns.TypeA}, {"sub.example.com.", dns.TypeNS}, {"example.net.", dns.TypeNS},
		{"alias-00.example.com.", dns.TypeCNAME}, {"legacy.example.com.", dns.TypeDNAME}, {"cross.org.", dns.TypeSOA},
		{"ns1.example.com.", dns.TypeA}, {"ns.hosting.net.", dns.TypeA}, {"host-000.example.com.", dns.TypeNS}, {"wild.example.com.", dns.TypeA},
		{"nx.wild.example.com.", dns.TypeMX},
		// Special-use names: answered by both without asking the root.
		{"localhost.", dns.TypeA}, {"localhost.", dns.TypeAAAA}, {"1.0.0.127.in-addr.arpa.", dns.TypePTR},
		{"host.invalid.", dns.TypeA}, {"www.example.test.", dns.TypeA}, {"abc.onion.", dns.TypeA},
		{"router.home.arpa.", dns.TypeAAAA}, {"1.0.168.192.in-addr.arpa.", dns.TypePTR}, {"4.3.2.10.in-addr.arpa.", dns.TypePTR},
		{"5.0.16.172.in-addr.arpa.", dns.TypePTR},
		// Last, once both have the delegations cached: DS from the parents.
		{"example.com.", dns.TypeDS}, {"sub.example.com.", dns.TypeDS},
	} {
		q(s.name, s.t)
	}
	return d
}

// TestDifferentialUnbound: resolverd and Unbound give the same answers to
// the same 500 questions over the same fake internet. Needs nsd and
// unbound (.ci/run installs both) and root (authorities on port 53).
func TestDifferentialUnbound(t *testing.T) {
	for _, bin := range []string{"nsd", "unbound"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not installed (Debian: apt-get install nsd unbound; .ci/run installs them): %v", bin, err)
		}
	}
	if testing.Short() {
		t.Skip("-short")
	}
	inet := genDiffInternet()
	if len(inet.questions) != 500 {
		t.Fatalf("%d questions, want 500", len(inet.questions))
	}
	dir := t.TempDir()
	servers := map[string][]string{
		diffRoot: {"."},
		diffTLD:  {"com.", "net.", "org."},
		diffAuth: {"example.com.", "example.net.", "cross.org."},
		diffAux:  {"example.com.", "sub.example.com.", "shop.com.", "hosting.net."},
	}
	for ip, origins := range servers {
		startNSD(t, dir, ip, origins, inet.zones)
	}
	hints := ". 3600000 IN NS a.root-servers.net.\na.root-servers.net. 3600000 IN A " + diffRoot + "\n"

	files := baseFiles()
	files["root.hints"] = hints
	repo := newConfigRepo(t, files)
	head, _ := repo.repo.Head()
	n := newNode(t, repo.dir, t.TempDir())
	n.start()
	n.waitServed(head.Hash().String(), 30*time.Second)
	unbound := startUnbound(t, dir, hints)

	type result struct {
		rcode  int
		answer []string
		err    error
	}
	ask := func(addr string, q dns.Question) result {
		m := new(dns.Msg)
		m.SetQuestion(q.Name, q.Qtype)
		m.SetEdns0(1232, false)
		c := &dns.Client{Timeout: 5 * time.Second}
		r, _, err := c.Exchange(m, addr)
		if err == nil && r.Truncated {
			c.Net = "tcp"
			r, _, err = c.Exchange(m, addr)
		}
		if err != nil {
			return result{err: err}
		}
		res := result{rcode: r.Rcode}
		for _, rr := range r.Answer {
			h := rr.Header()
			res.answer = append(res.answer, strings.ToLower(fmt.Sprintf("%s %s %s", h.Name, dns.TypeToString[h.Rrtype], strings.TrimPrefix(rr.String(), h.String()))))
		}
		sort.Strings(res.answer)
		return res
	}
	var (
		mu     sync.Mutex
		diffs  []string
		empty  int
		rcodes = map[string]int{}
	)
	work := make(chan dns.Question)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for q := range work {
				a, b := ask(n.addr(), q), ask(unbound, q)
				mu.Lock()
				if a.err != nil || b.err != nil || a.rcode != b.rcode || !slices.Equal(a.answer, b.answer) {
					diffs = append(diffs, fmt.Sprintf("%s %s:\n    resolverd %s %v %v\n    unbound   %s %v %v", q.Name, dns.TypeToString[q.Qtype],
						dns.RcodeToString[a.rcode], a.answer, a.err, dns.RcodeToString[b.rcode], b.answer, b.err))
				}
				if len(b.answer) == 0 {
					empty++
				}
				rcodes[dns.RcodeToString[b.rcode]]++
				mu.Unlock()
			}
		}()
	}
	for _, q := range inet.questions {
		work <- q
	}
	close(work)
	wg.Wait()
	sort.Strings(diffs)
	t.Logf("%d questions; Unbound's rcodes %v, %d with an empty answer section; %d differences", len(inet.questions), rcodes, empty, len(diffs))
	if len(diffs) > 0 {
		t.Errorf("%d of %d answers differ (zero allowed):\n%s", len(diffs), len(inet.questions), strings.Join(diffs, "\n"))
	}
	if empty > len(inet.questions)/3 {
		t.Errorf("Unbound answered %d of %d questions with an empty answer section: the fake internet is not working", empty, len(inet.questions))
	}
}

// startNSD serves origins from one NSD process on ip port 53 until the
// test ends.
func startNSD(t *testing.T, dir, ip string, origins []string, zones map[string][]string) {
	t.Helper()
	pc, err := net.ListenPacket("udp", ip+":53")
	if err != nil {
		t.Skipf("cannot bind %s:53 for the fake internet (needs root, as CI runs): %v", ip, err)
	}
	pc.Close()
	d := filepath.Join(dir, "nsd-"+ip)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	srv := nsdconf.Server{Addr: ip, Dir: d, ZonesDir: d, LogFile: filepath.Join(d, "nsd.log")}
	for i, o := range origins {
		file := fmt.Sprintf("zone%d.zone", i)
		if err := os.WriteFile(filepath.Join(d, file), []byte(strings.Join(zones[o], "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		srv.Zones = append(srv.Zones, nsdconf.Zone{Origin: o, File: file})
	}
	cf := filepath.Join(d, "nsd.conf")
	if err := os.WriteFile(cf, []byte(srv.Config()), 0o644); err != nil {
		t.Fatal(err)
	}
	startDaemon(t, "nsd "+ip, filepath.Join(d, "nsd.log"), "nsd", "-d", "-c", cf)
	waitDNS(t, ip+":53", origins[0], dns.TypeSOA, filepath.Join(d, "nsd.log"))
}

// startUnbound runs an iterating Unbound (no validation: resolverd does
// not validate either) from hints, answering on 127.0.0.1; it returns its
// address.
func startUnbound(t *testing.T, dir, hints string) string {
	t.Helper()
	d := filepath.Join(dir, "unbound")
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "root.hints"), []byte(hints), 0o644); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	conf := fmt.Sprintf(`server:
  interface: 127.0.0.1
  port: %d
  num-threads: 1
  do-ip6: no
  access-control: 127.0.0.0/8 allow
  username: ""
  chroot: ""
  directory: "%[2]s"
  pidfile: "%[2]s/unbound.pid"
  logfile: "%[2]s/unbound.log"
  use-syslog: no
  root-hints: "%[2]s/root.hints"
  do-not-query-localhost: no
  module-config: "iterator"
  qname-minimisation: yes
  harden-glue: yes
remote-control:
  control-enable: no
`, port, d)
	cf := filepath.Join(d, "unbound.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("unbound-checkconf", cf).CombinedOutput(); err != nil {
		t.Fatalf("unbound-checkconf: %v\n%s", err, out)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	startDaemon(t, "unbound", filepath.Join(d, "unbound.log"), "unbound", "-d", "-c", cf)
	waitDNS(t, addr, "a.root-servers.net.", dns.TypeA, filepath.Join(d, "unbound.log"))
	return addr
}

// startDaemon starts a foreground daemon, its output in logfile.out,
// stopped when the test ends.
func startDaemon(t *testing.T, what, logfile string, argv ...string) {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	out, err := os.Create(logfile + ".out")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() }) // runs after the daemon's stop
	cmd.Stdout, cmd.Stderr = out, out
	if err := proctest.Start(t, cmd, 10*time.Second); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// waitDNS waits until addr answers name/qtype (any rcode but SERVFAIL).
func waitDNS(t *testing.T, addr, name string, qtype uint16, logfile string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	c := &dns.Client{Timeout: 500 * time.Millisecond}
	for ctx.Err() == nil {
		if r, _, err := c.ExchangeContext(ctx, m, addr); err == nil && r.Rcode != dns.RcodeServerFailure {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	log, _ := os.ReadFile(logfile)
	out, _ := os.ReadFile(logfile + ".out")
	t.Fatalf("%s does not answer %s: log:\n%s\n%s", addr, name, log, out)
}
