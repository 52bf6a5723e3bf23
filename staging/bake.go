package staging

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/gitops-dns/resolverd/cluster/model"
	"github.com/gitops-dns/resolverd/probe"
)

// A canary's bake passes only if its nodes passed their probes throughout
// (seed 000: a canary that broke and recovered unseen). A re-verification at
// the end of the bake sees only the end; each node's own self-probe history
// (probe.History, in its GET /status) sees the whole bake, so promote judges
// that history over the bake window first. A node whose history does not
// cover the window (restarted, stopped, status unreachable, history
// dropped) has not shown that it passed: that is a refusal, never a pass.

// ErrBakeFailed is wrapped by the refusal of a bake whose canary nodes
// failed their probes, or cannot show they passed them, during the bake.
var ErrBakeFailed = errors.New("the canary did not pass its probes throughout the bake")

// StatusOptions say where the canary nodes' status endpoints (the `http`
// address of their gitops block) are.
type StatusOptions struct {
	// Addrs gives the status address by node name (tunnels, tests).
	Addrs map[string]netip.AddrPort
	// Port, when not 0, is the status port at the address of every node
	// not in Addrs.
	Port uint16
	// Timeout bounds one status request (default 10s).
	Timeout time.Duration
}

// maxStatusBody bounds the status answer read from a node.
const maxStatusBody = 8 << 20

// maxProblems bounds the problems reported per node: a flapping node's
// history has up to probe.MaxSpans spans.
const maxProblems = 10

// NodeBake is one canary node's self-probe history judged over the bake.
type NodeBake struct {
	Cluster  string
	Node     string
	Status   string    // the URL read; live: the DNS address probed
	From, To time.Time // the bake window (live: the part watched)
	Every    time.Duration
	Runs     int      // probe runs in the spans covering the window
	Problems []string // empty: the node passed its gate probes throughout
	// Live: dnsctl probed the node itself during the bake (WatchOptions),
	// from where it runs, as clients ask; else the node's own history.
	Live bool
	// Unread: the status could not be read (while watching live, the
	// history read at the end decides).
	Unread bool
}

// Summary is one line saying what the history showed.
func (b NodeBake) Summary() string {
	if len(b.Problems) == 0 {
		what := "self-probe runs"
		if b.Live {
			what = "runs of dnsctl probing it"
		}
		return fmt.Sprintf("%s/%s passed its gate probes throughout the bake %s .. %s (%d %s, every %s)",
			b.Cluster, b.Node, stamp(b.From), stamp(b.To), b.Runs, what, b.Every)
	}
	if b.Live {
		return fmt.Sprintf("%s/%s, probed by dnsctl: %s", b.Cluster, b.Node, strings.Join(b.Problems, "; "))
	}
	return fmt.Sprintf("%s/%s: %s", b.Cluster, b.Node, strings.Join(b.Problems, "; "))
}

// BakeError is the refusal of a bake: every canary node, judged.
type BakeError struct {
	Revision string
	Nodes    []NodeBake
}

func (e *BakeError) Error() string {
	var bad []string
	for _, n := range e.Nodes {
		if len(n.Problems) > 0 {
			bad = append(bad, n.Summary())
		}
	}
	return fmt.Sprintf("%s of %s: %s", ErrBakeFailed, model.ShortID(e.Revision), strings.Join(bad, " | "))
}

func (e *BakeError) Unwrap() error { return ErrBakeFailed }

// stamp is a time in RFC 3339, with hundredths when it has any: a
// failure of a few runs at a short interval still reads right.
func stamp(t time.Time) string {
	return t.UTC().Truncate(10 * time.Millisecond).Format(time.RFC3339Nano)
}

// roundDur keeps what matters of a duration: seconds, or hundredths below
// ten seconds (a short failure is still a failure).
func roundDur(d time.Duration) time.Duration {
	if d < 10*time.Second {
		return d.Round(10 * time.Millisecond)
	}
	return d.Round(time.Second)
}

// statusURL is where node n of a cluster answers GET /status.
func (o StatusOptions) statusURL(n model.Node) (string, error) {
	if a, ok := o.Addrs[n.Name]; ok {
		return "http://" + a.String() + "/status", nil
	}
	if o.Port == 0 {
		return "", fmt.Errorf("no status address for node %s: give the nodes' gitops http port (--status-port) or its address (--status %s=ADDR:PORT)", n.Name, n.Name)
	}
	return "http://" + netip.AddrPortFrom(n.Address, o.Port).String() + "/status", nil
}

// nodeStatus is the part of a node's GET /status a bake reads.
type nodeStatus struct {
	Cluster    string         `json:"cluster"`
	Node       string         `json:"node"`
	SelfProbes *probe.History `json:"selfProbes"`
}

// watchedBake reads the self-probe history of every node of a canary
// cluster and judges it over [from, to]. The error is for a bake that could
// not be judged for want of addresses; what the nodes showed is in the
// NodeBakes.
func watchedBake(ctx context.Context, opt StatusOptions, c *model.Cluster, rev string, from, to time.Time) ([]NodeBake, error) {
	if opt.Timeout <= 0 {
		opt.Timeout = 10 * time.Second
	}
	var out []NodeBake
	for _, n := range c.Nodes {
		u, err := opt.statusURL(n)
		if err != nil {
			return nil, fmt.Errorf("canary %s: %w", c.Name, err)
		}
		b := NodeBake{Cluster: c.Name, Node: n.Name, Status: u, From: from, To: to}
		st, err := fetchStatus(ctx, u, opt.Timeout)
		switch {
		case err != nil:
			b.Unread = true
			b.Problems = []string{fmt.Sprintf("its status cannot be read (%v): nothing shows it passed its probes during the bake", err)}
		case st.Cluster != c.Name || st.Node != n.Name:
			b.Problems = []string{fmt.Sprintf("%s is the status of node %s/%s, not of %s/%s", u, st.Cluster, st.Node, c.Name, n.Name)}
		case st.SelfProbes == nil:
			b.Problems = []string{fmt.Sprintf("%s has no self-probe history (gitops probe_interval 0 or probes off, or a resolverd older than this dnsctl)", u)}
		default:
			b.Every = time.Duration(st.SelfProbes.IntervalSeconds * float64(time.Second))
			b.Runs, b.Problems = judgeHistory(st.SelfProbes, rev, from, to)
		}
		out = append(out, b)
	}
	return out, nil
}

func fetchStatus(ctx context.Context, u string, timeout time.Duration) (*nodeStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxStatusBody))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	var st nodeStatus
	if err := json.Unmarshal(body, &st); err != nil {
		return nil, fmt.Errorf("GET %s: not the JSON of a node's status: %w", u, err)
	}
	return &st, nil
}

// judgeHistory says whether a node's self-probe history shows it serving
// rev and passing its gate probes over all of [from, to]: every span that
// touches the window must be rev passing, and no two runs (nor the window's
// ends and the nearest run) may be further apart than the node's MaxGap.
// It returns the runs of the spans covering the window and the problems,
// each naming when, for how long and what the probes saw.
func judgeHistory(h *probe.History, rev string, from, to time.Time) (int, []string) {
	maxGap := time.Duration(h.MaxGapSeconds * float64(time.Second))
	if maxGap <= 0 {
		return 0, []string{"its self-probe history gives no maximum gap between runs"}
	}
	var problems []string
	add := func(format string, a ...any) {
		if len(problems) < maxProblems {
			problems = append(problems, fmt.Sprintf(format, a...))
		} else if len(problems) == maxProblems {
			problems = append(problems, "(more problems not shown)")
		}
	}
	gap := func(a, b time.Time, why string) {
		add("no self-probe result from %s to %s (%s; a run is due every %gs)%s", stamp(a), stamp(b), roundDur(b.Sub(a)), h.IntervalSeconds, why)
	}
	runs := 0
	cursor := from // covered up to here
	for _, s := range h.Spans {
		if s.To.Before(from.Add(-maxGap)) || s.From.After(to) {
			continue
		}
		if s.From.Sub(cursor) > maxGap {
			why := ": the node was not probing itself (stopped, restarted or unreachable)"
			if h.Since.After(cursor) {
				why = fmt.Sprintf(": its history starts at %s (the node started then)", stamp(h.Since))
			} else if cursor.Equal(from) && h.Dropped > 0 {
				why = fmt.Sprintf(": older spans were dropped (%d, the bound is %d)", h.Dropped, probe.MaxSpans)
			}
			gap(cursor, s.From, why)
		}
		if s.To.After(cursor) {
			cursor = s.To
		}
		runs += s.Runs
		if s.To.Before(from) {
			continue // only vouches for the window's start
		}
		span := fmt.Sprintf("from %s to %s (%s, %s)", stamp(s.From), stamp(s.To), roundDur(s.To.Sub(s.From)), plural(s.Runs, "run"))
		switch {
		case s.Revision != rev && len(s.Failed) > 0:
			add("served %s, not %s, %s: %s", orNone(s.Revision), model.ShortID(rev), span, strings.Join(s.Failed, "; "))
		case s.Revision != rev:
			add("served %s, not %s, %s", orNone(s.Revision), model.ShortID(rev), span)
		case !s.Pass:
			add("failed its gate probes %s: %s", span, strings.Join(s.Failed, "; "))
		}
	}
	if to.Sub(cursor) > maxGap {
		why := ""
		if h.Since.After(cursor) {
			why = fmt.Sprintf(": its history starts at %s (the node started then)", stamp(h.Since))
		}
		gap(cursor, to, why)
	}
	return runs, problems
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// WatchOptions make promote --after-bake wait out a bake that is not
// complete instead of refusing it: meanwhile it probes every canary node
// itself, from where it runs, as the clients ask (a node probing itself on
// its own address does not see what breaks between clients and it), and
// reads the nodes' histories, refusing as soon as either shows a problem
// in the bake so far.
type WatchOptions struct {
	// Every is how often (default 10s).
	Every time.Duration
	// Probe says where the nodes answer DNS (Addrs, Port) and bounds each
	// query (Timeout), as for Verify.
	Probe Options
	// Progress, when set, gets a line at every look.
	Progress func(string)
}

// liveNode is a canary node dnsctl probes during the bake.
type liveNode struct {
	cluster *model.Cluster
	node    model.Node
	from    time.Time // the window of its cluster
	rec     *probe.Recorder
}

// watchLive probes every node of the canaries every w.Every until until,
// and every w.Every judges what it saw and what the nodes' histories say
// of the bake so far. It returns what it saw of each node (all passing),
// or a BakeError at the first problem. A status that cannot be read is no
// refusal yet: the history read at the end decides.
func watchLive(ctx context.Context, opt PromoteOptions, canaries []*model.Cluster, froms []time.Time, until time.Time) ([]NodeBake, error) {
	w := *opt.Watch
	if w.Every <= 0 {
		w.Every = 10 * time.Second
	}
	w.Probe.defaults()
	rev := opt.Revision.ID
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	maxGap := 2*w.Every + 2*w.Probe.Timeout
	var nodes []*liveNode
	for i, c := range canaries {
		v := &verifier{opt: w.Probe}
		for _, n := range c.Nodes {
			ln := &liveNode{cluster: c, node: n, from: froms[i], rec: probe.NewRecorder(w.Every, maxGap, start)}
			nodes = append(nodes, ln)
			addr := v.addr(n)
			go probe.WatchRuns(ctx, ln.rec, w.Every, func(ctx context.Context) probe.Result {
				served, err := probe.Version(ctx, addr, w.Probe.Timeout)
				if err == nil && served == rev {
					return probe.RunAll(ctx, addr, rev, opt.Revision.Probes, w.Probe.Timeout)
				}
				line := fmt.Sprintf("@%s serves %s", addr, orNone(served))
				if err != nil {
					line = fmt.Sprintf("@%s: %v", addr, err)
				}
				return probe.Result{Time: time.Now(), Revision: served, Failed: []probe.Failure{{Probe: probe.NoProbe, Line: line}}}
			}, nil)
		}
	}
	for {
		// Look every w.Every (the first runs land before the first look),
		// and once more when the bake ends.
		d := min(w.Every, max(time.Until(until), 0))
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		now := opt.Now()
		if now.After(until) {
			now = until
		}
		var looked []NodeBake
		failed := false
		for _, ln := range nodes {
			from := ln.from
			if from.Before(start) {
				from = start
			}
			h := ln.rec.History()
			b := NodeBake{Cluster: ln.cluster.Name, Node: ln.node.Name, Status: (&verifier{opt: w.Probe}).addr(ln.node), From: from, To: now, Every: w.Every, Live: true}
			b.Runs, b.Problems = judgeHistory(&h, rev, from, now)
			failed = failed || len(b.Problems) > 0
			looked = append(looked, b)
		}
		for i, c := range canaries {
			nb, err := watchedBake(ctx, opt.Status, c, rev, froms[i], now)
			if err != nil {
				return nil, fmt.Errorf("promote --after-bake: %w", err)
			}
			for _, b := range nb {
				if !b.Unread {
					failed = failed || len(b.Problems) > 0
					looked = append(looked, b)
				}
			}
		}
		if failed {
			return nil, fmt.Errorf("promote --after-bake --watch: %w", &BakeError{Revision: rev, Nodes: looked})
		}
		if w.Progress != nil {
			w.Progress(fmt.Sprintf("%d canary node(s) pass so far; %s of the bake remain", len(nodes), until.Sub(now).Round(time.Second)))
		}
		if !now.Before(until) {
			var live []NodeBake
			for _, b := range looked {
				if b.Live {
					live = append(live, b)
				}
			}
			return live, nil
		}
	}
}
