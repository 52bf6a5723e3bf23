// Package staging owns the path of a revision from the main branch to
// production: verification of a revision on the live nodes of a cluster
// (which revision each node serves, the repo's probes, fallback drift,
// forward targets), the Report of that verification in text, Markdown, JSON
// and HTML, the record of a successful verification in git, and promotion:
// moving the ref production clusters track, fast-forward only, to a verified
// revision, with a canary stage and a bake time.
//
// Nothing here knows CoreDNS: nodes are asked over plain DNS (miekg/dns) and
// the repository is read and written with go-git.
package staging

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gitops-dns/resolverd/cluster/model"
	"github.com/gitops-dns/resolverd/probe"
	"github.com/miekg/dns"
)

// Defaults of Options.
const (
	DefaultWait    = 30 * time.Second
	DefaultPoll    = 500 * time.Millisecond
	DefaultTimeout = 2 * time.Second
	// maxParallel bounds the queries in flight at once.
	maxParallel = 16
	// maxChecks bounds the work of one verification (nodes x (probes +
	// fallback names) + targets): the repo is reviewed, but still untrusted.
	maxChecks = 100000
)

// FallbackEDEPrefix is the start of the EDE text of an answer given from
// fallback records (plugins/fallback): a node answering that way has a broken
// normal path for the name.
const FallbackEDEPrefix = "fallback record: "

// Options tune a verification.
type Options struct {
	// Wait is how long every node may take to serve the revision (default 30s).
	Wait time.Duration
	// Poll is the interval between two version queries to a node (default 0.5s).
	Poll time.Duration
	// Timeout bounds every single DNS exchange (default 2s).
	Timeout time.Duration
	// Addrs overrides where a node is asked, by node name (tests, NAT, SSH
	// tunnels). Nodes not in it are asked at their address and port.
	Addrs map[string]netip.AddrPort
	// Port, when not 0, replaces the DNS port of every node not in Addrs.
	Port uint16
	// Now is the clock of the report (default time.Now).
	Now func() time.Time
	// Progress, when set, is called after every version query to a node
	// while it does not serve the revision yet, and once when it does
	// (ServesRevision): who is still on which revision during the wait.
	// Calls for different nodes may come concurrently.
	Progress func(NodeResult)
}

func (o *Options) defaults() {
	if o.Wait <= 0 {
		o.Wait = DefaultWait
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// ErrNoSuchCluster is returned when the revision has no cluster of that name.
var ErrNoSuchCluster = errors.New("no such cluster")

// Verify verifies rev on the nodes of the named cluster. The error is for a
// verification that could not run (no such cluster, no nodes, no revision
// id); a verification that ran returns a Report whose Pass says the outcome.
func Verify(ctx context.Context, rev *model.Revision, clusterName string, opt Options) (*Report, error) {
	opt.defaults()
	if rev == nil || rev.ID == "" {
		return nil, fmt.Errorf("verify: the revision has no commit id")
	}
	c := rev.ClusterByName(clusterName)
	if c == nil {
		return nil, fmt.Errorf("verify: %w %q in revision %s (clusters: %s)", ErrNoSuchCluster, clusterName, model.ShortID(rev.ID), strings.Join(rev.ClusterNames(), ", "))
	}
	if len(c.Nodes) == 0 {
		return nil, fmt.Errorf("verify: cluster %q (%s) has no nodes", c.Name, c.Pos.File)
	}
	fb := fallbackSets(rev)
	targets := 0
	for _, r := range c.Forward {
		targets += len(r.To)
	}
	if n := len(c.Nodes)*(1+len(rev.Probes)+len(fb)) + targets; n > maxChecks {
		return nil, fmt.Errorf("verify: %d checks exceed the bound of %d", n, maxChecks)
	}

	v := &verifier{opt: opt, rev: rev, c: c}
	rep := &Report{
		Revision:    rev.ID,
		Cluster:     c.Name,
		Environment: string(c.Environment),
		Canary:      c.Canary,
		Started:     opt.Now().UTC(),
		Wait:        opt.Wait.String(),
	}

	// 1. Every node must serve the revision (polled until Wait).
	rep.Nodes = make([]NodeResult, len(c.Nodes))
	var wg sync.WaitGroup
	for i, n := range c.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rep.Nodes[i] = v.waitRevision(ctx, n)
		}()
	}
	wg.Wait()

	// 2-3. Probes and fallback drift on every node that serves it.
	var checks []Check
	var mu sync.Mutex
	sem := make(chan struct{}, maxParallel)
	add := func(ch Check) {
		mu.Lock()
		checks = append(checks, ch)
		mu.Unlock()
	}
	run := func(f func()) {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			f()
		}()
	}
	for i, n := range c.Nodes {
		nr := rep.Nodes[i]
		if !nr.ServesRevision {
			continue
		}
		addr := v.addr(n)
		for pi, p := range rev.Probes {
			run(func() { ch := v.probe(ctx, n.Name, addr, p); ch.order = [3]int{i, 0, pi}; add(ch) })
		}
		for fi, set := range fb {
			run(func() { ch := v.fallback(ctx, n.Name, addr, set); ch.order = [3]int{i, 1, fi}; add(ch) })
		}
	}
	// 4. Every forward target of the cluster answers.
	ti := 0
	for _, r := range c.Forward {
		for i := range r.To {
			k := ti
			ti++
			run(func() { ch := v.forward(ctx, r, i); ch.order = [3]int{len(c.Nodes), 2, k}; add(ch) })
		}
	}
	wg.Wait()
	sort.SliceStable(checks, func(a, b int) bool {
		x, y := checks[a].order, checks[b].order
		for i := range x {
			if x[i] != y[i] {
				return x[i] < y[i]
			}
		}
		return false
	})
	rep.Checks = checks
	rep.Graph = graphOf(rev, c.Name, checks)
	rep.Finished = opt.Now().UTC()
	rep.tally()
	return rep, nil
}

type verifier struct {
	opt Options
	rev *model.Revision
	c   *model.Cluster
}

func (v *verifier) addr(n model.Node) string {
	if a, ok := v.opt.Addrs[n.Name]; ok {
		return a.String()
	}
	port := n.Port
	if v.opt.Port != 0 {
		port = v.opt.Port
	}
	if port == 0 {
		port = 53
	}
	return netip.AddrPortFrom(n.Address, port).String()
}

// waitRevision asks the node which revision it serves until it is rev or the
// wait is over.
func (v *verifier) waitRevision(ctx context.Context, n model.Node) NodeResult {
	addr := v.addr(n)
	res := NodeResult{Name: n.Name, Address: addr}
	ctx, cancel := context.WithTimeout(ctx, v.opt.Wait)
	defer cancel()
	polls := 0
	for {
		polls++
		served, err := probe.Version(ctx, addr, v.opt.Timeout)
		switch {
		case err != nil && (res.Served != "" || ctx.Err() != nil && res.Detail != ""):
			// The node answered before (or the wait ended during this
			// query): keep what it said last. One lost poll on a loaded
			// network says less than the revision it named.
		case err != nil:
			res.Detail = err.Error()
		case served == v.rev.ID:
			res.Served, res.ServesRevision, res.Detail = served, true, ""
			res.Polls = polls
			v.progress(res)
			return res
		default:
			res.Served = served
			res.Detail = fmt.Sprintf("serves %s, not %s", orNone(served), v.rev.ID)
		}
		if err == nil || ctx.Err() == nil {
			v.progress(res)
		}
		t := time.NewTimer(v.opt.Poll)
		select {
		case <-ctx.Done():
			t.Stop()
			res.Polls = polls
			res.Detail = fmt.Sprintf("%s after waiting %s", res.Detail, v.opt.Wait)
			return res
		case <-t.C:
		}
	}
}

func (v *verifier) progress(res NodeResult) {
	if v.opt.Progress != nil {
		v.opt.Progress(res)
	}
}

func orNone(s string) string {
	if s == "" {
		return "no revision"
	}
	return s
}

// probe runs one probe against one node.
func (v *verifier) probe(ctx context.Context, node, addr string, p model.Probe) Check {
	ch := Check{Kind: KindProbe, Node: node, Subject: p.Name, Gate: p.Gate,
		Query: p.Query + " " + dns.TypeToString[p.Type]}
	r, err := probe.Run(ctx, addr, p, v.opt.Timeout)
	if r != nil {
		ch.Answer = probe.ResponseText(r)
	}
	if err != nil {
		ch.Status = StatusFail
		if !p.Gate {
			ch.Status = StatusWarn
		}
		ch.Detail = err.Error()
		return ch
	}
	ch.Status = StatusPass
	return ch
}

// fallbackSet is the fallback records of one name and type.
type fallbackSet struct {
	name  string
	qtype uint16
	want  []string // rdata, as written
}

func fallbackSets(rev *model.Revision) []fallbackSet {
	var out []fallbackSet
	idx := map[[2]string]int{}
	for _, rec := range rev.Fallback {
		h := rec.RR.Header()
		k := [2]string{strings.ToLower(h.Name), dns.TypeToString[h.Rrtype]}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, fallbackSet{name: strings.ToLower(h.Name), qtype: h.Rrtype})
		}
		out[i].want = append(out[i].want, probe.RdataText(rec.RR))
	}
	return out
}

// fallback compares the fallback records of one name and type with what the
// node resolves normally. A difference is a warning, never a failure: the
// real answer wins on the nodes anyway, but the operator must know the
// fallback would send clients somewhere else.
func (v *verifier) fallback(ctx context.Context, node, addr string, set fallbackSet) Check {
	ch := Check{Kind: KindFallback, Node: node, Subject: set.name + " " + dns.TypeToString[set.qtype],
		Query: set.name + " " + dns.TypeToString[set.qtype], Expected: strings.Join(set.want, ", ")}
	r, err := probe.Exchange(ctx, probe.Query(set.name, set.qtype), addr, v.opt.Timeout)
	if err != nil {
		ch.Status = StatusWarn
		ch.Detail = fmt.Sprintf("fallback %s; the node did not answer: %v", ch.Expected, err)
		return ch
	}
	ch.Answer = probe.ResponseText(r)
	if e := probe.EDEText(r); strings.HasPrefix(e, FallbackEDEPrefix) {
		ch.Status = StatusWarn
		ch.Detail = fmt.Sprintf("the node answered from its fallback records (%s): normal resolution of the name fails there", e)
		return ch
	}
	var got []string
	for _, rr := range r.Answer {
		if rr.Header().Rrtype == set.qtype {
			got = append(got, probe.RdataText(rr))
		}
	}
	switch {
	case r.Rcode == dns.RcodeNameError:
		ch.Status = StatusWarn
		ch.Detail = fmt.Sprintf("drift: fallback says %s, normal resolution says NXDOMAIN", ch.Expected)
	case r.Rcode != dns.RcodeSuccess:
		ch.Status = StatusWarn
		ch.Detail = fmt.Sprintf("normal resolution fails (%s) and the node did not answer from its fallback records %s (is fallback in its plugin chain?)", dns.RcodeToString[r.Rcode], ch.Expected)
	case !sameSet(got, set.want):
		ch.Status = StatusWarn
		normal := "NOERROR with no " + dns.TypeToString[set.qtype] + " record"
		if len(got) > 0 {
			normal = strings.Join(got, ", ")
		}
		ch.Detail = fmt.Sprintf("drift: fallback says %s, normal resolution says %s", ch.Expected, normal)
	default:
		ch.Status = StatusPass
	}
	return ch
}

func sameSet(a, b []string) bool {
	norm := func(s []string) string {
		c := make([]string, len(s))
		for i, x := range s {
			c[i] = probe.NormRdata(x)
		}
		sort.Strings(c)
		return strings.Join(c, "\n")
	}
	return norm(a) == norm(b)
}

// forward checks that a forward target answers a simple query (the SOA of
// the rule's zone) before the deadline. Any response counts: the target is
// up and speaking DNS; what it answers is the target's business.
//
// A tls:// target is asked over TLS as the nodes ask it (its certificate
// verified against the rule's tls_ca and name): a certificate the nodes
// would refuse fails the check.
func (v *verifier) forward(ctx context.Context, r model.ForwardRule, i int) Check {
	t := r.To[i]
	ch := Check{Kind: KindForward, Subject: r.Zone + " -> " + r.Target(i), Query: r.Zone + " SOA"}
	q := new(dns.Msg)
	q.SetQuestion(r.Zone, dns.TypeSOA)
	var resp *dns.Msg
	var err error
	if cfg := r.TLSConfig(i); cfg != nil {
		ctx, cancel := context.WithTimeout(ctx, v.opt.Timeout)
		defer cancel()
		c := &dns.Client{Net: "tcp-tls", TLSConfig: cfg, Timeout: v.opt.Timeout}
		resp, _, err = c.ExchangeContext(ctx, q, t.String())
	} else {
		resp, err = probe.Exchange(ctx, q, t.String(), v.opt.Timeout)
	}
	if err != nil {
		ch.Status = StatusFail
		ch.Detail = fmt.Sprintf("forward target of %s (%s) does not answer: %v", r.Zone, r.Pos, err)
		return ch
	}
	ch.Status = StatusPass
	ch.Answer = dns.RcodeToString[resp.Rcode]
	return ch
}
