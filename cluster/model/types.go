// Package model is the config-repo model as data: one revision's policy,
// clusters, nodes, forward rules, fallback records and probes, and the few
// questions asked of them (which cluster, which zone, which forward rule,
// which root hints). It parses nothing and reads no git: package cluster
// loads and checks a revision into these types, package node serves one.
// It sits low so that the UDP hot path can hold a revision without linking
// the YAML loader or go-git (ARCHITECTURE.md, "Layers").
package model

import (
	"crypto/x509"
	"net/netip"

	"github.com/gitops-dns/resolverd/zones"
	"github.com/miekg/dns"
)

// Environment is production or staging.
type Environment string

const (
	Production Environment = "production"
	Staging    Environment = "staging"
)

// Revision is one commit of the config repo, parsed. It is immutable once
// loaded: nodes share it between goroutines without locks.
type Revision struct {
	ID      string // full commit id (40 hex); "" when loaded from a plain folder
	Message string // full commit message (trailers are read from it)
	Dir     string // folder of the repo holding the config ("" = root)

	Policy    Policy
	Clusters  []*Cluster    // sorted by Name
	Zones     []*zones.Zone // sorted by origin
	Fallback  []Record      // fallback.zone, in file order
	Probes    []Probe       // probes.yaml, in file order
	RootHints []dns.RR      // NS + A/AAAA of the root servers; nil = built-in IANA hints
	// TrustAnchors are the DS/DNSKEY records of dnssec.trust_anchors; nil =
	// the IANA root KSKs built into resolver/dnssec.
	TrustAnchors []dns.RR

	// ZoneFiles is what loading made of each zone file, by the file's path
	// as findings name it. A revision loaded against this one takes a
	// file's entry as it is when the file's git blob is the same: the
	// parsed zone, its findings and its lint are shared, not redone
	// (ARCHITECTURE.md, "Applying a revision costs the change").
	ZoneFiles map[string]*ZoneFile
}

// ZoneFile is one zone file of a revision as loaded. Immutable once
// loaded: revisions share it.
type ZoneFile struct {
	// Blob is the git blob id of the file's content; "" when it was not
	// read from git (then nothing is reused from it).
	Blob     string
	Zone     *zones.Zone     // nil when the file gave no zone
	Findings []zones.Finding // the parser's findings
	// Lint is zones.Lint's findings for Zone under LintPolicy (the
	// revision's TTL bounds).
	Lint       []zones.Finding
	LintPolicy zones.LintPolicy
}

// Record is a resource record and where it was written.
type Record struct {
	RR  dns.RR
	Pos zones.Position
}

// Defaults of policy.yaml.
const (
	DefaultFallbackTTL      = 30
	DefaultMaxDeletePercent = 10
	DefaultMinTTL           = 30
	DefaultMaxTTL           = 86400
)

// Policy is policy.yaml: repo-wide rules.
type Policy struct {
	RootHintsFile    string         // recursion.root_hints, relative to the config folder
	FallbackTTL      uint32         // fallback.ttl (default 30)
	MaxDeletePercent int            // limits.max_delete_percent (default 10)
	MinTTL           uint32         // limits.min_ttl (default 30)
	MaxTTL           uint32         // limits.max_ttl (default 86400)
	DNSSEC           DNSSECPolicy   // dnssec
	RPZ              []RPZ          // rpz: response policy zones, in priority order
	Pos              zones.Position // policy.yaml (line 0); the file may not exist
}

// DNSSECPolicy is policy.yaml's dnssec section.
type DNSSECPolicy struct {
	Validation           bool             // dnssec.validation (default true)
	TrustAnchorsFile     string           // dnssec.trust_anchors, relative to the config folder; "" = the IANA root KSKs built in
	NegativeTrustAnchors []string         // dnssec.negative_trust_anchors (RFC 7646): absolute, lower case
	NegativePos          []zones.Position // parallel to NegativeTrustAnchors
}

// Cluster is clusters/<name>.yaml: one datacenter or environment.
type Cluster struct {
	Name        string
	Environment Environment
	Track       string // the ref this cluster's nodes follow
	Canary      bool
	Nodes       []Node
	Zones       []string         // origins this cluster serves (absolute, lower case); nil = every zone
	ZonesPos    []zones.Position // parallel to Zones
	Forward     []ForwardRule
	Recursion   Recursion
	Pos         zones.Position // position of the file (line 0)
}

// Node is one resolver of a cluster.
type Node struct {
	Name    string
	Address netip.Addr
	Port    uint16 // DNS port the node serves on (nodes[].port, default 53)
	Pos     zones.Position
}

// AddrPort is where the node answers DNS.
func (n Node) AddrPort() netip.AddrPort { return netip.AddrPortFrom(n.Address, n.Port) }

// ForwardRule sends queries at or below Zone to its targets.
type ForwardRule struct {
	Zone string           // absolute, lower case; "." forwards everything
	To   []netip.AddrPort // port 53 when the file gave none (853 for a tls:// target)
	// TLSName is parallel to To (nil or "" = plain DNS over UDP and TCP):
	// a target written tls://ADDR@NAME is asked over DNS over TLS (RFC
	// 7858) and its certificate must carry NAME (RFC 8310 strict profile).
	TLSName []string
	// TLSCA is the rule's tls_ca: the certificates its tls:// targets are
	// verified against; nil when the rule names none.
	TLSCA *CAFile
	Pos   zones.Position
	ToPos []zones.Position // parallel to To: where each target was written
}

// IsTLS reports whether target i is asked over DNS over TLS.
func (r *ForwardRule) IsTLS(i int) bool { return i < len(r.TLSName) && r.TLSName[i] != "" }

// Target is target i as the repo writes it: "198.18.9.1:53" or
// "tls://198.18.9.1:853@dns.corp.example".
func (r *ForwardRule) Target(i int) string {
	if r.IsTLS(i) {
		return "tls://" + r.To[i].String() + "@" + r.TLSName[i]
	}
	return r.To[i].String()
}

// CAFile is a PEM file of the config repo: the certificate authorities a
// rule's tls:// targets are verified against, and nothing else (no system
// trust store: the repo says whom a node trusts, reviewed like the rest).
type CAFile struct {
	File   string              // relative to the config folder
	Pos    zones.Position      // where the rule names it
	Certs  []*x509.Certificate // parsed by the loader; empty when the file is unusable
	SHA256 string              // hex digest of the file: a diff tells a changed file from the same
}

// Recursion says who may recurse through a cluster.
type Recursion struct {
	Allow    []netip.Prefix
	AllowPos []zones.Position // parallel to Allow
}

// Probe is one entry of probes.yaml: a query and what its answer must hold.
type Probe struct {
	Name      string
	Query     string // absolute name
	Type      uint16
	Rcode     int      // expected rcode
	Expect    []string // each must appear in the answer (rdata text, e.g. "198.18.5.10")
	Gate      bool     // a failing gate blocks promotion and makes a node return to LKG
	Pos       zones.Position
	ExpectPos []zones.Position // parallel to Expect
}
