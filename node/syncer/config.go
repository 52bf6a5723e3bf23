package syncer

import (
	"fmt"
	"time"

	"github.com/gitops-dns/resolverd/cluster/gitrepo"
)

// Defaults of the optional settings.
const (
	DefaultPoll         = 30 * time.Second
	DefaultState        = ".resolverd-state"
	DefaultMaxBackoff   = 5 * time.Minute
	DefaultProbeTimeout = 5 * time.Second
	// DefaultProbeInterval is how often a node runs its gate probes on
	// itself to keep a self-probe history (probe.History): a bake of an
	// hour is then judged on 240 runs, for a few queries to itself.
	DefaultProbeInterval = 15 * time.Second
	DefaultDepth         = 1
)

// Config is what a node syncs: the gitops block of its Corefile (see
// plugins/gitops/README.md for every setting).
type Config struct {
	Remote        gitrepo.Remote
	Ref           string // as written; gitrepo.NormalizeRef applied when fetching
	Path          string // folder of the repo holding the config
	Cluster       string
	Node          string
	Poll          time.Duration
	MaxBackoff    time.Duration
	State         string // absolute
	Trust         string // armored OpenPGP keyring; "" = no signature check
	HTTP          string // listen address of the status / sync endpoint; "" = none
	SyncTokenFile string // bearer token for POST /sync; "" = endpoint refuses
	ProbeTimeout  time.Duration
	Probes        bool // run the repo's probes against this node after applying
	// ProbeInterval is how often the node runs its gate probes on itself
	// (with Probes on) for its self-probe history; 0 = never.
	ProbeInterval time.Duration
	// Origin names where settings were written ("repo", "cluster",
	// "node" -> "Corefile:12"), for errors that must name the line.
	Origin map[string]string
}

func (c Config) String() string {
	return fmt.Sprintf("repo=%s ref=%s path=%q cluster=%s node=%s", c.Remote.Redacted(), gitrepo.NormalizeRef(c.Ref), c.Path, c.Cluster, c.Node)
}
