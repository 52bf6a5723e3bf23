// Package syncer keeps what a node serves current, without CoreDNS: it
// boots from the last good revision in the state directory before any
// network access, then fetches the tracked ref (cluster/gitrepo), verifies
// the head commit's signature, loads and checks the revision with the same
// code as `dnsctl check` (package cluster), builds this node's
// node.Snapshot and swaps it into a node.Holder, runs the repo's gate
// probes against the node (package probe) and returns to the previous
// revision when one fails. It records every attempt for status (HTTP JSON)
// and reports to a Metrics and a Logger, and syncs on demand (HTTP POST,
// SIGHUP). The gitops plugin is its CoreDNS face: setup, the CHAOS answer
// and the Prometheus Metrics (ARCHITECTURE.md, "The node's sync").
package syncer

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gitops-dns/resolverd/cluster/gitrepo"
	"github.com/gitops-dns/resolverd/cluster/model"
	"github.com/gitops-dns/resolverd/internal/clock"
	"github.com/gitops-dns/resolverd/node"
	"github.com/gitops-dns/resolverd/probe"
)

// Syncer is the sync loop of one node: it owns the Holder the query path
// reads and everything status reports.
type Syncer struct {
	cfg     Config
	holder  *node.Holder
	keyring *gitrepo.Keyring
	clock   clock.Clock
	backoff gitrepo.Backoff
	metrics Metrics
	log     Logger

	probeAddr atomic.Value    // string: this node's DNS address for probes
	selfProbe *probe.Recorder // the self-probe history; nil when the node does not probe itself
	stopping  atomic.Bool     // Stop was called: not ready (lameduck while the server drains)
	freeing   atomic.Bool     // a refused revision's memory is being returned to the OS

	trigger  chan chan Attempt // sync now; the result is sent on the channel
	cancel   context.CancelFunc
	done     chan struct{}
	stopHTTP func()
	lock     *gitrepo.StateLock // held from Start to Stop

	mu     sync.Mutex // guards everything below
	store  *gitrepo.Store
	st     state
	phases []phase // the steps of the last SyncOnce, timed
}

// Options are what a Syncer reports to and stores into; a nil field takes
// its default.
type Options struct {
	Holder  *node.Holder // where the served snapshot goes (default: a new one)
	Clock   clock.Clock  // default clock.System
	Metrics Metrics      // default: none
	Log     Logger       // default: the standard logger, prefixed "syncer: "
}

// New builds a syncer from its configuration (reads the trust keyring).
// Nothing runs until Start (or Boot and SyncOnce, for tests and tools).
func New(cfg Config, opt Options) (*Syncer, error) {
	g := &Syncer{
		cfg:     cfg,
		holder:  opt.Holder,
		clock:   opt.Clock,
		metrics: opt.Metrics,
		log:     opt.Log,
		backoff: gitrepo.Backoff{Base: cfg.Poll, Max: max(cfg.MaxBackoff, cfg.Poll)},
		trigger: make(chan chan Attempt, 16),
	}
	if g.holder == nil {
		g.holder = &node.Holder{}
	}
	if g.clock == nil {
		g.clock = clock.System{}
	}
	if g.metrics == nil {
		g.metrics = nopMetrics{}
	}
	if g.log == nil {
		g.log = StdLogger("syncer: ")
	}
	g.metrics.Node(cfg.Cluster, cfg.Node, RejectReasons, FetchClasses)
	g.st.rejected = map[string]refusal{}
	g.st.clears = 1
	if cfg.Probes && cfg.ProbeInterval > 0 {
		g.selfProbe = probe.NewRecorder(cfg.ProbeInterval, g.maxProbeGap(), time.Now())
	}
	if cfg.Trust != "" {
		k, err := gitrepo.LoadKeyring(cfg.Trust)
		if err != nil {
			return nil, err
		}
		g.keyring = k
	}
	return g, nil
}

// Snapshot implements node.Source: the snapshot being served, or nil.
func (g *Syncer) Snapshot() *node.Snapshot { return g.holder.Snapshot() }

// Ready is true once a valid revision is served, and false again from
// Stop on: at shutdown readiness goes false before the servers drain, so
// load balancers stop sending first.
func (g *Syncer) Ready() bool { return g.holder.Snapshot() != nil && !g.stopping.Load() }

// SetProbeAddr sets the address the node's own probes are sent to.
func (g *Syncer) SetProbeAddr(addr string) { g.probeAddr.Store(addr) }

// Start boots from the state directory (serving the last good revision, if
// any, before any network access) and starts the sync loop, the status
// endpoint and the SIGHUP handler.
func (g *Syncer) Start() error {
	if g.keyring == nil {
		g.log.Warningf("NO TRUSTED KEYS CONFIGURED: any commit on %s %s will be applied without a signature check; set `trust <keyring.asc>` in the gitops block",
			g.cfg.Remote.Redacted(), gitrepo.NormalizeRef(g.cfg.Ref))
	} else {
		g.log.Infof("applying only commits signed by one of %d trusted keys from %s: %s", len(g.keyring.KeyIDs()), g.cfg.Trust, strings.Join(g.keyring.KeyIDs(), ", "))
	}
	g.stopping.Store(false)
	lock, err := gitrepo.LockState(g.cfg.State)
	if err != nil {
		return fmt.Errorf("gitops state %s: %w", g.cfg.State, err)
	}
	g.lock = lock
	g.Boot()
	if g.holder.Snapshot() == nil {
		ctx, cancel := context.WithTimeout(context.Background(), g.cfg.Remote.Timeout+time.Second)
		err := g.checkSettings(ctx)
		cancel()
		if err != nil {
			g.lock.Release()
			g.lock = nil
			return err
		}
	}
	if g.cfg.HTTP != "" {
		stop, err := g.serveHTTP(g.cfg.HTTP)
		if err != nil {
			g.lock.Release()
			g.lock = nil
			return fmt.Errorf("gitops http %s: %w", g.cfg.HTTP, err)
		}
		g.stopHTTP = stop
	}
	ctx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	g.done = make(chan struct{})
	stopSig := watchSIGHUP(g)
	go func() {
		defer close(g.done)
		defer stopSig()
		g.run(ctx)
	}()
	if g.selfProbe != nil {
		go probe.Watch(ctx, g.selfProbe, g.cfg.ProbeInterval, g.cfg.ProbeTimeout, g.probeTarget, g.countSelfProbe)
	}
	return nil
}

// maxProbeGap is the longest time between two self-probe runs that still
// counts as watching: a tick missed, and a run whose probes all waited for
// their timeout, twice.
func (g *Syncer) maxProbeGap() time.Duration {
	return 2*g.cfg.ProbeInterval + 2*g.cfg.ProbeTimeout
}

// countSelfProbe counts a self-probe run's failures with the probes'
// failures after an apply (coredns_gitops_probe_failures_total): a node
// that breaks between two revisions shows in its metrics too.
func (g *Syncer) countSelfProbe(res probe.Result) {
	for _, f := range res.Failed {
		if f.Probe != probe.NoProbe {
			g.metrics.ProbeFailed(f.Probe, true)
		}
	}
}

// probeTarget is what a self-probe run asks: this node, the revision it
// serves, that revision's probes.
func (g *Syncer) probeTarget() (addr, revision string, probes []model.Probe) {
	addr, _ = g.probeAddr.Load().(string)
	snap := g.holder.Snapshot()
	if snap == nil || snap.Revision == nil {
		return addr, "", nil
	}
	return addr, snap.Revision.ID, snap.Revision.Probes
}

// Stop ends the sync loop and the status endpoint. It may be called more
// than once.
func (g *Syncer) Stop() error {
	g.stopping.Store(true)
	if g.cancel != nil {
		g.cancel()
		select {
		case <-g.done:
		case <-time.After(5 * time.Second):
		}
		g.cancel = nil
	}
	if g.stopHTTP != nil {
		g.stopHTTP()
		g.stopHTTP = nil
	}
	if g.lock != nil {
		g.lock.Release()
		g.lock = nil
	}
	return nil
}

// run is the sync loop: sync now, then after the poll interval (backed off
// with jitter after failures) or on demand.
func (g *Syncer) run(ctx context.Context) {
	var waiters []chan Attempt
	for {
		a := g.SyncOnce(ctx)
		for _, w := range waiters {
			w <- a
		}
		waiters = waiters[:0]
		if ctx.Err() != nil {
			return
		}
		g.mu.Lock()
		delay := g.backoff.Delay(g.st.failures)
		g.st.nextSync = g.clock.Now().Add(delay)
		g.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-g.clock.After(delay):
		case w := <-g.trigger:
			if w != nil {
				waiters = append(waiters, w)
			}
		}
		// Collect every request queued meanwhile: one sync answers them all.
		for more := true; more; {
			select {
			case w := <-g.trigger:
				if w != nil {
					waiters = append(waiters, w)
				}
			default:
				more = false
			}
		}
	}
}

// Retry forgets which heads were refused, so that the next sync evaluates
// the head again (after a transient probe failure, say), and syncs now.
func (g *Syncer) Retry() <-chan Attempt {
	g.mu.Lock()
	clear(g.st.rejected)
	g.st.rejectedOrder = nil
	g.st.clears++
	g.mu.Unlock()
	return g.Trigger()
}

// Trigger asks the loop to sync now; the returned channel receives the
// attempt's result (buffered, so the caller may ignore it).
func (g *Syncer) Trigger() <-chan Attempt {
	ch := make(chan Attempt, 1)
	select {
	case g.trigger <- ch:
	default: // the queue is full: a sync is already requested
		close(ch)
	}
	return ch
}

// Config returns the syncer's configuration.
func (g *Syncer) Config() Config { return g.cfg }
