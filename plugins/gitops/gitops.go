// Package gitops is the CoreDNS plugin that owns what a node serves: it
// fetches the config repository with go-git (cluster/gitrepo), verifies the
// head commit's signature, loads and validates the revision with the same
// code as `dnsctl check` (package cluster), builds this node's snapshot and
// swaps it atomically; it keeps the last good revision in a state directory
// and serves it at boot before the network is tried. It answers
// `version.config. CH TXT` with the served commit id, reports readiness,
// status (HTTP JSON) and metrics, and syncs on demand (HTTP POST, SIGHUP).
// Other plugins of the server block read the snapshot through SourceOf.
package gitops

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coredns/coredns/plugin"
	clog "github.com/coredns/coredns/plugin/pkg/log"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/cluster/gitrepo"
	"github.com/gitops-dns/resolverd/node"
	"github.com/gitops-dns/resolverd/plugins/internal/explain"
)

var log = clog.NewWithPlugin(pluginName)

// Clock is time as the sync loop sees it; tests use a fake one.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// GitOps is the plugin: the DNS handler and the sync loop of one server block.
type GitOps struct {
	Next plugin.Handler

	cfg     Config
	holder  *node.Holder
	keyring *gitrepo.Keyring
	clock   Clock
	backoff gitrepo.Backoff

	probeAddr atomic.Value // string: this node's DNS address for probes

	trigger  chan chan Attempt // sync now; the result is sent on the channel
	cancel   context.CancelFunc
	done     chan struct{}
	stopHTTP func()

	mu    sync.Mutex // guards everything below
	store *gitrepo.Store
	st    state
}

// New builds the plugin from its configuration (reads the trust keyring).
func New(cfg Config) (*GitOps, error) {
	g := &GitOps{
		cfg:     cfg,
		holder:  &node.Holder{},
		clock:   realClock{},
		backoff: gitrepo.Backoff{Base: cfg.Poll, Max: max(cfg.MaxBackoff, cfg.Poll)},
		trigger: make(chan chan Attempt, 16),
	}
	g.st.rejected = map[string]string{}
	if cfg.Trust != "" {
		k, err := gitrepo.LoadKeyring(cfg.Trust)
		if err != nil {
			return nil, err
		}
		g.keyring = k
	}
	return g, nil
}

// Name implements plugin.Handler.
func (g *GitOps) Name() string { return pluginName }

// Snapshot implements Source: the snapshot being served, or nil.
func (g *GitOps) Snapshot() *node.Snapshot { return g.holder.Snapshot() }

// Ready implements the ready plugin's Readiness: true once a valid revision
// is served.
func (g *GitOps) Ready() bool { return g.holder.Snapshot() != nil }

// SetProbeAddr sets the address the node's own probes are sent to.
func (g *GitOps) SetProbeAddr(addr string) { g.probeAddr.Store(addr) }

// ServeDNS answers questions of meta types (answerMeta) and the CHAOS names
// of the node (version.config. with the served commit id; id.server. and
// hostname.bind. with the node name) and passes everything else, other
// CHAOS names included, to the next plugin.
func (g *GitOps) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if g.answerMeta(w, r) {
		return dns.RcodeSuccess, nil // written: see answerMeta
	}
	if len(r.Question) != 1 || r.Question[0].Qclass != dns.ClassCHAOS {
		return plugin.NextOrFailure(g.Name(), g.Next, ctx, w, r)
	}
	q := r.Question[0]
	var txt string
	switch strings.ToLower(q.Name) {
	case "version.config.":
		s := g.holder.Snapshot()
		if s == nil || s.Revision == nil {
			// RFC 8914 4.3: Not Ready, "the server is unable to answer the
			// query, as it was not fully functional when the query was
			// received": no revision is served yet.
			w.WriteMsg(explain.ServFail(request.Request{W: w, Req: r}, dns.ExtendedErrorCodeNotReady, "no revision of the configuration is served yet"))
			return dns.RcodeSuccess, nil // written: CoreDNS must not write a second reply
		}
		txt = s.Revision.ID
	case "id.server.", "hostname.bind.":
		txt = g.cfg.Node
	default:
		return plugin.NextOrFailure(g.Name(), g.Next, ctx, w, r)
	}
	m := new(dns.Msg)
	m.SetReply(r)
	if q.Qtype == dns.TypeTXT || q.Qtype == dns.TypeANY {
		m.Answer = []dns.RR{&dns.TXT{
			Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassCHAOS, Ttl: 0},
			Txt: []string{txt},
		}}
	}
	w.WriteMsg(m)
	return dns.RcodeSuccess, nil
}

// Start boots from the state directory (serving the last good revision, if
// any, before any network access) and starts the sync loop, the status
// endpoint and the SIGHUP handler.
func (g *GitOps) Start() error {
	if g.keyring == nil {
		log.Warningf("NO TRUSTED KEYS CONFIGURED: any commit on %s %s will be applied without a signature check; set `trust <keyring.asc>` in the gitops block",
			g.cfg.Remote.Redacted(), gitrepo.NormalizeRef(g.cfg.Ref))
	} else {
		log.Infof("applying only commits signed by one of %d trusted keys from %s: %s", len(g.keyring.KeyIDs()), g.cfg.Trust, strings.Join(g.keyring.KeyIDs(), ", "))
	}
	g.Boot()
	if g.cfg.HTTP != "" {
		stop, err := g.serveHTTP(g.cfg.HTTP)
		if err != nil {
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
	return nil
}

// Stop ends the sync loop and the status endpoint. It may be called more
// than once.
func (g *GitOps) Stop() error {
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
	return nil
}

// run is the sync loop: sync now, then after the poll interval (backed off
// with jitter after failures) or on demand.
func (g *GitOps) run(ctx context.Context) {
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
func (g *GitOps) Retry() <-chan Attempt {
	g.mu.Lock()
	clear(g.st.rejected)
	g.st.rejectedOrder = nil
	g.mu.Unlock()
	return g.Trigger()
}

// Trigger asks the loop to sync now; the returned channel receives the
// attempt's result (buffered, so the caller may ignore it).
func (g *GitOps) Trigger() <-chan Attempt {
	ch := make(chan Attempt, 1)
	select {
	case g.trigger <- ch:
	default: // the queue is full: a sync is already requested
		close(ch)
	}
	return ch
}
