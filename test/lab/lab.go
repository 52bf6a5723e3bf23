package lab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Binaries built once by TestMain (see lab_test.go); empty when the
// product's commands do not exist yet.
var (
	resolverdBin string
	dnsctlBin    string
	// Why a binary is missing: "skip: ..." when the command does not exist
	// yet, anything else is a build failure.
	resolverdWhy, dnsctlWhy string
)

// SetBinaries records where the product's binaries are, or why not.
func SetBinaries(resolverd, resolverdErr, dnsctl, dnsctlErr string) {
	resolverdBin, resolverdWhy, dnsctlBin, dnsctlWhy = resolverd, resolverdErr, dnsctl, dnsctlErr
}

// needBinary skips (command not written yet) or fails (build broken).
func needBinary(t testing.TB, bin, why, name string) {
	t.Helper()
	if bin != "" {
		return
	}
	if strings.HasPrefix(why, "skip: ") {
		t.Skipf("needs %s: %s", name, strings.TrimPrefix(why, "skip: "))
	}
	t.Fatalf("%s does not build: %s", name, why)
}

// NeedDnsctl skips or fails t when dnsctl is unavailable.
func NeedDnsctl(t testing.TB) { needBinary(t, dnsctlBin, dnsctlWhy, "cmd/dnsctl") }

// Options shape one lab.
type Options struct {
	// Clusters to run resolver nodes for; nil = dc1, dc2 and staging.
	Clusters []string
	// Remote is "http" (git http-backend, default) or "git" (git daemon).
	Remote string
	// Trust configures the trusted key on every node (commits are signed).
	Trust bool
	// Poll is the gitops poll interval (default 1s).
	Poll time.Duration
	// GitopsExtra lines are added to the gitops block of every node.
	GitopsExtra []string
	// Config overrides files of the first revision (nil values ignored).
	Config map[string]string
	// NoNodes builds the network, internet and git host only.
	NoNodes bool
}

// Lab is one running lab. Create it with New; it is torn down by
// t.Cleanup, also when the test fails.
type Lab struct {
	T      testing.TB
	opts   Options
	dir    string
	start  time.Time
	net    *network
	git    *GitServer
	repo   *ConfigRepo
	procs  []*Proc
	pmu    sync.Mutex
	undo   []func() error
	nodes  []*Node
	nodeBy map[string]*Node
	// Clients by site: "dc1", "dc2", "staging".
	clients  map[string]*Client
	clusters []*ClusterSpec
	// Initial is the first revision, served by every node once New returns.
	Initial string
}

var labSeq atomic.Int32

// DefaultClusters is the lab's topology of resolver clusters.
func DefaultClusters() []*ClusterSpec {
	return []*ClusterSpec{
		{Name: "dc1", Environment: "production", Track: ProductionRef, Canary: true, Octet: 1, Nodes: []string{"ns1", "ns2", "ns3"}},
		{Name: "dc2", Environment: "production", Track: BakedRef, Octet: 2, Nodes: []string{"ns1", "ns2", "ns3"}},
		{Name: "staging", Environment: "staging", Track: MainRef, Octet: 3, Nodes: []string{"stg1", "stg2"}},
	}
}

// Skip skips t unless the lab can run on this host.
func Skip(t testing.TB) {
	t.Helper()
	if ok, why := Available(); !ok {
		t.Skip("lab unavailable: " + why)
	}
}

// New builds and starts a lab: namespaces, internet, git host, config repo
// with its first revision (on main and production), resolver nodes, and
// waits until every node serves that revision.
func New(t testing.TB, o Options) *Lab {
	t.Helper()
	Skip(t)
	if !o.NoNodes {
		needBinary(t, resolverdBin, resolverdWhy, "cmd/resolverd")
	}
	if o.Remote == "" {
		o.Remote = "http"
	}
	if o.Poll == 0 {
		o.Poll = time.Second
	}
	l := &Lab{T: t, opts: o, start: time.Now(), nodeBy: map[string]*Node{}, clients: map[string]*Client{}}
	for _, c := range DefaultClusters() {
		if o.Clusters == nil || contains(o.Clusters, c.Name) {
			l.clusters = append(l.clusters, c)
		}
	}
	prefix := fmt.Sprintf("lab%d-%d-", os.Getpid(), labSeq.Add(1))
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	l.dir = dir
	l.net = newNetwork(prefix)
	t.Cleanup(l.close)
	if err := l.build(); err != nil {
		t.Fatalf("lab: %v", err)
	}
	running := 0
	for _, n := range l.nodes {
		if n.Running() {
			running++
		}
	}
	l.Logf("lab up in %v: %d namespaces, %d resolverd nodes", time.Since(l.start).Round(time.Millisecond), len(l.net.order), running)
	return l
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func (l *Lab) build() error {
	n := l.net
	if err := n.setup(); err != nil {
		return err
	}
	for _, s := range []struct {
		name  string
		octet int
	}{{"dc1", 1}, {"dc2", 2}, {"staging", 3}, {"git", 4}, {"inet", 5}} {
		if err := n.addSite(s.name, s.octet); err != nil {
			return err
		}
	}
	if _, err := n.addHost("inet", "inet", RootIP, TLDIP, SLDIP); err != nil {
		return err
	}
	if _, err := n.addHost("git", "git", GitIP); err != nil {
		return err
	}
	for _, c := range DefaultClusters() {
		var servers []string
		for i, name := range c.Nodes {
			addr := c.NodeAddr(i)
			servers = append(servers, addr)
			if !contains(l.clusterNames(), c.Name) {
				continue
			}
			h, err := n.addHost(c.Name+"-"+name, c.Name, addr)
			if err != nil {
				return err
			}
			node := &Node{Cluster: c.Name, Name: name, Addr: addr, Host: h, lab: l, Dir: filepath.Join(l.dir, "node-"+c.Name+"-"+name)}
			node.State = filepath.Join(node.Dir, "state")
			if err := os.MkdirAll(node.Dir, 0o755); err != nil {
				return err
			}
			l.nodes = append(l.nodes, node)
			l.nodeBy[node.ID()] = node
		}
		caddr := fmt.Sprintf("198.18.%d.100", c.Octet)
		h, err := n.addHost(c.Name+"-client", c.Name, caddr)
		if err != nil {
			return err
		}
		var ns []netip.Addr
		for _, s := range servers {
			ns = append(ns, netip.MustParseAddr(s))
		}
		if err := writeResolvConf(h.NS, ns, SearchDomain); err != nil {
			return err
		}
		l.clients[c.Name] = &Client{Name: c.Name + "-client", Host: h, Servers: servers, lab: l}
	}
	if err := l.startInternet(); err != nil {
		return err
	}
	if err := l.startGitServer(); err != nil {
		return err
	}
	repo, err := l.newConfigRepo()
	if err != nil {
		return err
	}
	l.repo = repo
	files := l.DefaultConfig()
	for k, v := range l.opts.Config {
		files[k] = v
	}
	rev, err := repo.Commit("initial configuration", files, CommitOpts{})
	if err != nil {
		return err
	}
	for _, ref := range []string{ProductionRef, BakedRef} {
		if err := repo.SetRef(ref, rev); err != nil {
			return err
		}
	}
	l.Initial = rev
	l.Logf("config repo: initial revision %s on main, production and production-baked", short(rev))
	if l.opts.NoNodes {
		return nil
	}
	for _, node := range l.nodes {
		if err := node.Start(); err != nil {
			return err
		}
	}
	return l.WaitServed(rev, 45*time.Second, l.nodes...)
}

func (l *Lab) clusterNames() []string {
	var out []string
	for _, c := range l.clusters {
		out = append(out, c.Name)
	}
	return out
}

// cleanup registers an undo step run by close (in reverse order).
func (l *Lab) cleanup(f func() error) { l.undo = append(l.undo, f) }

func (l *Lab) close() {
	start := time.Now()
	failed := l.T.Failed()
	if failed {
		l.dumpLogs()
	}
	var errs []error
	if err := stopAll(l.procs); err != nil {
		errs = append(errs, err)
	}
	for i := len(l.undo) - 1; i >= 0; i-- {
		if err := l.undo[i](); err != nil {
			errs = append(errs, err)
		}
	}
	if err := l.net.teardown(); err != nil {
		errs = append(errs, err)
	}
	if !failed || os.Getenv("LAB_KEEP") == "" {
		os.RemoveAll(l.dir)
	}
	if err := errors.Join(errs...); err != nil {
		l.T.Errorf("lab teardown: %v", err)
	}
	l.T.Logf("lab down in %v", time.Since(start).Round(time.Millisecond))
}

func (l *Lab) dumpLogs() {
	seen := map[string]bool{}
	for _, p := range l.procs {
		if seen[p.LogPath] {
			continue
		}
		seen[p.LogPath] = true
		l.T.Logf("----- log of %s (%s) -----\n%s", p.Name, p.LogPath, p.Log(4000))
	}
}

// startProc starts a process on host and remembers it for teardown.
func (l *Lab) startProc(name string, h *Host, env []string, argv ...string) (*Proc, error) {
	p, err := startProc(name, h.NS, filepath.Join(l.dir, name+".log"), env, argv...)
	if err != nil {
		return nil, err
	}
	l.pmu.Lock()
	l.procs = append(l.procs, p)
	l.pmu.Unlock()
	return p, nil
}

// waitDNS waits until server answers name/qtype (from namespace ns).
func (l *Lab) waitDNS(ns, server, name, qtype string) error {
	deadline := time.Now().Add(15 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		r, err := Query(ns, server, name, dns.StringToType[qtype], 500*time.Millisecond)
		if err == nil && r.Rcode == dns.RcodeSuccess {
			return nil
		}
		last = err
		if err == nil {
			last = fmt.Errorf("rcode %s", dns.RcodeToString[r.Rcode])
		}
		time.Sleep(50 * time.Millisecond)
	}
	return last
}

// Logf adds a line to the timeline: the elapsed time since the lab started,
// then the message.
func (l *Lab) Logf(format string, args ...any) {
	l.T.Helper()
	l.T.Logf("[%7.3fs] %s", time.Since(l.start).Seconds(), fmt.Sprintf(format, args...))
}

// Since is the time elapsed since the lab started.
func (l *Lab) Since() time.Duration { return time.Since(l.start) }

// Repo is the config repo.
func (l *Lab) Repo() *ConfigRepo { return l.repo }

// Git is the git server.
func (l *Lab) Git() *GitServer { return l.git }

// Dir is the lab's scratch directory.
func (l *Lab) Dir() string { return l.dir }

// Cluster returns the spec of a cluster of the lab.
func (l *Lab) Cluster(name string) *ClusterSpec {
	for _, c := range l.clusters {
		if c.Name == name {
			return c
		}
	}
	l.T.Fatalf("no cluster %q in this lab", name)
	return nil
}

// Node returns a node by "cluster/name".
func (l *Lab) Node(id string) *Node {
	n := l.nodeBy[id]
	if n == nil {
		l.T.Fatalf("no node %q in this lab", id)
	}
	return n
}

// Nodes returns the nodes of the given clusters (all nodes when none given).
func (l *Lab) Nodes(clusters ...string) []*Node {
	var out []*Node
	for _, n := range l.nodes {
		if len(clusters) == 0 || contains(clusters, n.Cluster) {
			out = append(out, n)
		}
	}
	return out
}

// Client returns the client host of a site ("dc1", "dc2", "staging").
func (l *Lab) Client(site string) *Client {
	c := l.clients[site]
	if c == nil {
		l.T.Fatalf("no client in %q", site)
	}
	return c
}

// Commit commits files to main (signed with the trusted key) and logs it.
func (l *Lab) Commit(msg string, files map[string]string) string {
	l.T.Helper()
	return l.CommitWith(msg, files, CommitOpts{})
}

// CommitWith is Commit with options (other key, unsigned, other branch).
func (l *Lab) CommitWith(msg string, files map[string]string, o CommitOpts) string {
	l.T.Helper()
	rev, err := l.repo.Commit(msg, files, o)
	if err != nil {
		l.T.Fatalf("commit %q: %v", msg, err)
	}
	ref := o.Ref
	if ref == "" {
		ref = MainRef
	}
	l.Logf("commit %s to %s: %s", short(rev), ref, msg)
	return rev
}

// Publish moves both production refs (the canary's and the others') to
// rev directly, as an operator with push rights would (scenarios about
// promotion use dnsctl promote).
func (l *Lab) Publish(rev string) {
	l.T.Helper()
	for _, ref := range []string{ProductionRef, BakedRef} {
		if err := l.repo.SetRef(ref, rev); err != nil {
			l.T.Fatalf("publish %s: %v", short(rev), err)
		}
	}
	l.Logf("production refs -> %s", short(rev))
}

// CommitAndPublish commits to main and moves production to it.
func (l *Lab) CommitAndPublish(msg string, files map[string]string) string {
	l.T.Helper()
	rev := l.Commit(msg, files)
	l.Publish(rev)
	return rev
}

// WaitServed waits until every given node answers version.config. with
// rev, or fails the test after timeout naming what each node serves.
func (l *Lab) WaitServed(rev string, timeout time.Duration, nodes ...*Node) error {
	start := time.Now()
	deadline := start.Add(timeout)
	pending := map[*Node]string{}
	for _, n := range nodes {
		pending[n] = "(not asked yet)"
	}
	for len(pending) > 0 {
		for n := range pending {
			got, err := n.Revision()
			switch {
			case err != nil:
				pending[n] = err.Error()
			case got == rev:
				delete(pending, n)
			default:
				pending[n] = "serves " + short(got)
			}
		}
		if len(pending) == 0 {
			break
		}
		alive := false
		for n := range pending {
			alive = alive || n.Running()
		}
		if time.Now().After(deadline) || !alive {
			var why []string
			for n, s := range pending {
				if !n.Running() {
					s += " (process exited)"
				}
				why = append(why, n.ID()+": "+s)
			}
			sort.Strings(why)
			return fmt.Errorf("after %v, nodes not serving %s: %s", timeout, short(rev), strings.Join(why, "; "))
		}
		time.Sleep(100 * time.Millisecond)
	}
	l.Logf("%d node(s) serve %s after %v", len(nodes), short(rev), time.Since(start).Round(time.Millisecond))
	return nil
}

// MustServe is WaitServed that fails the test.
func (l *Lab) MustServe(rev string, timeout time.Duration, nodes ...*Node) {
	l.T.Helper()
	if err := l.WaitServed(rev, timeout, nodes...); err != nil {
		l.T.Fatal(err)
	}
}

// Serving returns what each node serves right now ("cluster/node" -> rev
// or error text).
func (l *Lab) Serving(nodes ...*Node) map[string]string {
	out := map[string]string{}
	for _, n := range nodes {
		rev, err := n.Revision()
		if err != nil {
			out[n.ID()] = "error: " + err.Error()
		} else {
			out[n.ID()] = rev
		}
	}
	return out
}

// Cut silently drops all traffic between two sites ("dc1", "dc2",
// "staging", "git", "inet").
func (l *Lab) Cut(a, b string) {
	l.T.Helper()
	if err := l.net.cut(a, b); err != nil {
		l.T.Fatal(err)
	}
	l.Logf("link %s <-> %s CUT", a, b)
}

// Restore undoes Cut.
func (l *Lab) Restore(a, b string) {
	l.T.Helper()
	if err := l.net.restore(a, b); err != nil {
		l.T.Fatal(err)
	}
	l.Logf("link %s <-> %s restored", a, b)
}

// Unplug takes a host's network link down (Plug brings it back).
func (l *Lab) Unplug(host string) {
	l.T.Helper()
	if err := l.net.link(host, false); err != nil {
		l.T.Fatal(err)
	}
	l.Logf("host %s unplugged", host)
}

// Plug brings a host's link back up.
func (l *Lab) Plug(host string) {
	l.T.Helper()
	if err := l.net.link(host, true); err != nil {
		l.T.Fatal(err)
	}
	l.Logf("host %s plugged back", host)
}

// Stop stops a node's resolverd.
func (l *Lab) Stop(n *Node) {
	l.T.Helper()
	if err := n.Stop(); err != nil {
		l.T.Fatal(err)
	}
	l.Logf("node %s stopped", n.ID())
}

// Start starts a node's resolverd again.
func (l *Lab) Start(n *Node) {
	l.T.Helper()
	if err := n.Start(); err != nil {
		l.T.Fatal(err)
	}
	l.Logf("node %s started", n.ID())
}

// Sleep lets time pass, on the timeline.
func (l *Lab) Sleep(d time.Duration, why string) {
	l.Logf("wait %v: %s", d, why)
	time.Sleep(d)
}

func short(rev string) string {
	if len(rev) > 10 {
		return rev[:10]
	}
	return rev
}

// Dnsctl runs the product's dnsctl with args (in namespace ns, or in the
// test's own namespace when ns is ""), from the operators' working copy
// of the config repo. It returns the output and the exit code.
func (l *Lab) Dnsctl(ns string, args ...string) (string, int) {
	l.T.Helper()
	NeedDnsctl(l.T)
	argv := append([]string{dnsctlBin}, args...)
	if ns != "" {
		argv = append([]string{"ip", "netns", "exec", ns}, argv...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = filepath.Join(l.repo.Dir, ConfigDir)
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		l.T.Fatalf("dnsctl %v: %v", args, err)
	}
	l.Logf("dnsctl %s -> exit %d", strings.Join(args, " "), code)
	return string(out), code
}

// KeepsServing checks, for d, that every node keeps answering
// version.config. with rev (polled every 250 ms); the error names the first
// node seen serving anything else.
func (l *Lab) KeepsServing(rev string, d time.Duration, nodes ...*Node) error {
	l.Logf("watching %d node(s) keep serving %s for %v", len(nodes), short(rev), d)
	deadline := time.Now().Add(d)
	for {
		for _, n := range nodes {
			got, err := n.Revision()
			if err != nil {
				return fmt.Errorf("%s: %w", n.ID(), err)
			}
			if got != rev {
				return fmt.Errorf("%s serves %s, want %s", n.ID(), short(got), short(rev))
			}
		}
		if time.Now().After(deadline) {
			return nil
		}
		time.Sleep(250 * time.Millisecond)
	}
}
