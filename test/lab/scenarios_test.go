package lab

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func sameSet(got []string, want ...string) bool {
	g := append([]string(nil), got...)
	w := append([]string(nil), want...)
	sort.Strings(g)
	sort.Strings(w)
	return strings.Join(g, " ") == strings.Join(w, " ")
}

// TestClientsResolve: clients of a datacenter resolve internal and external
// names, short names through the search domain, A and AAAA together, with
// glibc, dig and Go's resolver; a committed change reaches them. The nodes
// fetch over git:// (git daemon).
func TestClientsResolve(t *testing.T) {
	l := New(t, Options{Clusters: []string{"dc1"}, Remote: "git"})
	c := l.Client("dc1")

	getent := []struct {
		name string
		want []string
	}{
		{"app.corp.internal", []string{AppHostA, AppHostAAAA}},
		{"app", []string{AppHostA, AppHostAAAA}}, // search corp.internal
		{"db-primary", []string{DBPrimaryA}},
		{"www.example.com", []string{ExternalWWWA, ExternalWWWAAAA}},
		{"web.example.com", []string{ExternalWWWA, ExternalWWWAAAA}},        // CNAME in example.com.
		{"intranet.corp.internal", []string{ExternalWWWA, ExternalWWWAAAA}}, // CNAME internal -> external
		{"mirror.example.net", []string{ExternalNetA}},                      // NS name out of bailiwick
	}
	for _, tc := range getent {
		got, err := c.Getent(tc.name)
		if err != nil || !sameSet(got, tc.want...) {
			t.Errorf("getent ahosts %s = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
	if got, err := c.Getent("nope.corp.internal"); err == nil {
		t.Errorf("getent ahosts nope.corp.internal = %v, want not found", got)
	}

	digs := []struct {
		args   []string
		status string
		want   []string
		aa     bool
	}{
		{[]string{"app.corp.internal", "A"}, "NOERROR", []string{AppHostA}, true},
		{[]string{"+search", "app", "AAAA"}, "NOERROR", []string{AppHostAAAA}, true},
		{[]string{"+tcp", "db-primary.corp.internal", "A"}, "NOERROR", []string{DBPrimaryA}, true},
		{[]string{"nope.corp.internal", "A"}, "NXDOMAIN", nil, true},
		{[]string{"www.example.com", "AAAA"}, "NOERROR", []string{ExternalWWWAAAA}, false},
		{[]string{"web.example.com", "A"}, "NOERROR", []string{"www.example.com.", ExternalWWWA}, false},
		{[]string{"nope.example.com", "A"}, "NXDOMAIN", nil, false},
		{[]string{"+tcp", "mirror.example.net", "A"}, "NOERROR", []string{ExternalNetA}, false},
	}
	for _, tc := range digs {
		r, err := c.Dig(tc.args...)
		if err != nil || r.Status != tc.status || !sameSet(r.Answers, tc.want...) {
			t.Errorf("dig %v: %v status %q answers %v; want %s %v", tc.args, err, r.Status, r.Answers, tc.status, tc.want)
			continue
		}
		if tc.aa != strings.Contains(" "+r.Flags+" ", " aa ") {
			t.Errorf("dig %v: flags %q, want aa=%v", tc.args, r.Flags, tc.aa)
		}
	}

	for _, tc := range getent[:5] {
		got, err := c.GoResolve(tc.name)
		if err != nil || !sameSet(got, tc.want...) {
			t.Errorf("Go resolver %s = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}

	// A change committed to the config repo reaches the clients.
	rev := l.CommitAndPublish("add build host", map[string]string{
		"zones/corp.internal.zone": CorpZone(ZoneSerialBase+2, "build IN A 198.18.10.30"),
	})
	l.MustServe(rev, 15*time.Second, l.Nodes("dc1")...)
	if got, err := c.Getent("build"); err != nil || !sameSet(got, "198.18.10.30") {
		t.Errorf("after the commit, getent ahosts build = %v, %v", got, err)
	}
	if got, err := c.GoResolve("build.corp.internal"); err != nil || !sameSet(got, "198.18.10.30") {
		t.Errorf("after the commit, Go resolver build = %v, %v", got, err)
	}
}

// internalLoad is the mix a client load asks: internal names only, so the
// answer never depends on the internet.
var internalLoad = []LoadQuery{
	{Name: AppHost, Type: dns.TypeA, Expect: AppHostA},
	{Name: AppHost, Type: dns.TypeAAAA, Expect: AppHostAAAA},
	{Name: DBPrimary, Type: dns.TypeA, Expect: DBPrimaryA},
}

// TestRollingRestartUnderLoad: a datacenter's nodes restart one after the
// other while a client asks 100 queries a second as a stub resolver with
// resolv.conf would (1 s per try, next server on failure, two rounds). No
// query the client retried is lost.
func TestRollingRestartUnderLoad(t *testing.T) {
	l := New(t, Options{Clusters: []string{"dc1"}})
	c := l.Client("dc1")
	qs := append(append([]LoadQuery(nil), internalLoad...),
		LoadQuery{Name: ExternalWWW, Type: dns.TypeA, Expect: ExternalWWWA})

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan *LoadStats)
	go func() { done <- c.Load(ctx, 100, 16, qs) }()
	l.Logf("client load started: 100 q/s, %d names", len(qs))
	time.Sleep(time.Second)
	for _, n := range l.Nodes("dc1") {
		l.Stop(n)
		time.Sleep(500 * time.Millisecond)
		l.Start(n)
		l.MustServe(l.Initial, 20*time.Second, n)
		deadline := time.Now().Add(10 * time.Second)
		for !n.Ready() && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		l.Logf("node %s ready=%v", n.ID(), n.Ready())
		time.Sleep(time.Second)
	}
	// A crash: SIGKILL, no graceful shutdown.
	n := l.Node("dc1/ns2")
	if err := n.Kill(); err != nil {
		t.Fatal(err)
	}
	l.Logf("node %s killed (SIGKILL)", n.ID())
	time.Sleep(time.Second)
	l.Start(n)
	l.MustServe(l.Initial, 20*time.Second, n)
	time.Sleep(time.Second)
	cancel()
	st := <-done
	l.Logf("client saw: %s, p99 %v", st, st.P99().Round(time.Millisecond))
	if st.Failed > 0 {
		t.Errorf("%d queries lost during the rolling restart: %s", st.Failed, strings.Join(st.Failures, "; "))
	}
	if st.Sent < 300 {
		t.Errorf("the load only sent %d queries: the test did not exercise the restart", st.Sent)
	}
}

// TestDatacenterIndependence: dc1 loses its links to dc2 and to the git
// server while its clients keep asking; they see no failure. A revision
// published meanwhile reaches dc2 only; dc1 catches up once the link is
// back.
func TestDatacenterIndependence(t *testing.T) {
	l := New(t, Options{Clusters: []string{"dc1", "dc2"}})
	c := l.Client("dc1")
	qs := append(append([]LoadQuery(nil), internalLoad...),
		LoadQuery{Name: ExternalWWW, Type: dns.TypeAAAA, Expect: ExternalWWWAAAA})

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan *LoadStats)
	go func() { done <- c.Load(ctx, 50, 8, qs) }()
	l.Logf("dc1 client load started: 50 q/s")
	time.Sleep(time.Second)

	l.Cut("dc1", "dc2")
	l.Cut("dc1", "git")
	rev := l.CommitAndPublish("add printer", map[string]string{
		"zones/corp.internal.zone": CorpZone(ZoneSerialBase+2, "printer IN A 198.18.10.40"),
	})
	l.MustServe(rev, 15*time.Second, l.Nodes("dc2")...)
	l.Sleep(3*time.Second, "dc1 polls a git server it cannot reach")
	for id, got := range l.Serving(l.Nodes("dc1")...) {
		if got != l.Initial {
			t.Errorf("cut-off %s serves %q, want the revision it had, %s", id, got, short(l.Initial))
		}
	}
	if got, err := l.Client("dc2").Getent("printer"); err != nil || !sameSet(got, "198.18.10.40") {
		t.Errorf("dc2 client: getent printer = %v, %v", got, err)
	}
	if got, err := c.Getent("app"); err != nil || !sameSet(got, AppHostA, AppHostAAAA) {
		t.Errorf("cut-off dc1 client: getent app = %v, %v", got, err)
	}

	l.Restore("dc1", "git")
	l.Restore("dc1", "dc2")
	l.MustServe(rev, 30*time.Second, l.Nodes("dc1")...)

	// A whole host of dc1 drops off the network: its clients' stubs time
	// out on it and go on to the next server.
	l.Unplug("dc1-ns1")
	l.Sleep(3*time.Second, "dc1-ns1 is unreachable")
	l.Plug("dc1-ns1")
	time.Sleep(time.Second)
	cancel()
	st := <-done
	l.Logf("dc1 client saw: %s, p99 %v", st, st.P99().Round(time.Millisecond))
	if st.Failed > 0 {
		t.Errorf("dc1 clients saw %d failures: %s", st.Failed, strings.Join(st.Failures, "; "))
	}
	if got, err := c.Getent("printer"); err != nil || !sameSet(got, "198.18.10.40") {
		t.Errorf("dc1 client after restore: getent printer = %v, %v", got, err)
	}
}
