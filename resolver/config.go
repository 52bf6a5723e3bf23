package resolver

import (
	"crypto/tls"
	"net/netip"
	"time"

	"github.com/gitops-dns/resolverd/internal/clock"
	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/resolver/dnssec"
)

// ForwardRule sends questions at or below Zone to the To targets (recursive
// servers, asked with RD=1) instead of resolving them iteratively. A rule for
// "." replaces recursion entirely. The longest matching zone wins.
type ForwardRule struct {
	Zone string           // absolute; case does not matter
	To   []netip.AddrPort // tried healthiest and fastest first
	// TLS is parallel to To (nil, shorter, or a nil entry: plain DNS over
	// UDP, TCP after truncation): a target with a config is asked over DNS
	// over TLS only (RFC 7858), verified with it (ServerName and RootCAs:
	// RFC 8310 strict profile; see dot.go), on persistent pipelined
	// connections. A target is one kind of server: the first rule naming
	// its address decides.
	TLS []*tls.Config
}

// Config configures a Resolver. Zero values take the defaults documented on
// each field; a negative duration or count disables the feature where noted.
type Config struct {
	// RootHints are the NS records of "." and the A/AAAA records of their
	// names. Required (the caller supplies the built-in IANA hints or a
	// repository's own).
	RootHints []dns.RR
	// Forward rules, any order.
	Forward []ForwardRule
	// DNSSEC, when set, turns validation on (see validate.go); its Fetcher
	// and Now are ignored: the resolver is both. SetDNSSEC changes it.
	DNSSEC *dnssec.Config
	// Port, when non-zero, is the port every iteratively-asked server is
	// queried on (tests run authorities on loopback on one free port).
	// Forward targets carry their own port. 0 = 53.
	Port uint16

	// Transport is how upstream queries go out. Default (nil): UDP through
	// a fresh socket per query on a kernel-random port (or the pool, with
	// UDPPool), TCP with NetTransport.
	Transport Transport
	// UDPPool sends UDP through long-lived connected sockets, each reused
	// for up to 128 queries over 10 s (udpPool), instead of a socket per
	// query: less CPU per query, but a port stays open across queries,
	// which is what SAD DNS-style side channels look for. Opt-in.
	UDPPool bool
	// Disable0x20 sends query names in lower case. By default each letter
	// of an upstream query name has a random case (draft-vixie-dnsext-
	// dns0x20: up to one more bit per letter a spoofer must guess) and the
	// reply must echo it exactly; a server that does not is asked again in
	// lower case and then left in lower case for an hour.
	Disable0x20 bool
	Clock       clock.Clock // TTLs, backoffs, the serve-stale wait (upstream deadlines use ctx); default the system clock
	Metrics     Metrics     // default none

	CacheSize int // RRsets and negative answers; default 100000
	// CacheMaxBytes bounds the estimated memory of those entries
	// (entrySize); default 256 MiB. The entry bound alone lets answers
	// of big RRsets (up to MaxRecordsPerRRset records of up to 64 KiB
	// messages) hold gigabytes.
	CacheMaxBytes       int64
	DelegationCacheSize int // zone cuts; default 10000
	ServerCacheSize     int // per-server RTT, lameness; default 10000
	FailureCacheSize    int // recent failures (RFC 9520); default 10000

	MaxTTL         time.Duration // cap on positive TTLs; default 24h
	NegativeMaxTTL time.Duration // cap on negative TTLs (RFC 2308); default 1h
	FailureTTL     time.Duration // failed resolutions cached (RFC 9520); default 5s, doubling on repeats up to FailureMaxTTL
	FailureMaxTTL  time.Duration // default 30s (RFC 8767 failure recheck)

	StaleClientTimeout time.Duration // answer from stale data after this wait (RFC 8767); default 1800ms
	StaleTTL           uint32        // TTL of stale answers; default 30
	MaxStale           time.Duration // how long past expiry data may be served; default 24h

	UpstreamTimeout time.Duration // cap on one upstream attempt; default 1500ms
	InitialTimeout  time.Duration // attempt timeout for a server never measured; default 800ms
	MinTimeout      time.Duration // floor on an attempt timeout; default 150ms
	Deadline        time.Duration // per client question, all work included; default 5s

	MaxSends            int // upstream sends per client question; default 32
	MaxCNAME            int // CNAME/DNAME restarts per client question; default 12
	MaxNSLookups        int // NS names resolved (no glue) per client question (NXNSattack); default 8
	MaxNSPerReferal     int // NS names resolved per referral; default 3
	MaxDepth            int // nesting of NS-name lookups; default 4
	MaxInFlight         int // distinct resolutions running at once; more get SERVFAIL/stale at once; default 1000
	MaxPerServer        int // queries outstanding to one answering server; default MaxInFlight
	MaxPerFailingServer int // the same for a server whose last query failed (twice that for one never measured); default 4

	// What one upstream answer may make us hold (BIND's max-records-per-type
	// and max-types-per-name, CVE-2024-1737): an answer with a larger RRset
	// fails the resolution (SERVFAIL) and is not cached; a name already
	// holding MaxTypesPerName cached RRsets and NODATA answers gets no
	// more (the answer still reaches the client). Default 100 each.
	MaxRecordsPerRRset int
	MaxTypesPerName    int

	LameTTL        time.Duration // lame server (REFUSED, upward referral, not authoritative) skipped for its zone; default 5m
	BrokenTTL      time.Duration // broken server (SERVFAIL, FORMERR, ...) skipped for its zone; default 10s
	HealthInterval time.Duration // forward target health checks; default 2s; negative disables the background checker

	DisableQNAMEMinimisation bool
	DisableIPv6              bool // never ask IPv6 servers
	// QueryLocalhost lets iteration ask servers on loopback addresses
	// (127.0.0.0/8, ::1), as Unbound's "do-not-query-localhost: no": for
	// tests and labs whose authorities run on loopback. Off, the default,
	// a delegation can never make the resolver query the host it runs on.
	// Unspecified, multicast and broadcast addresses are never asked.
	QueryLocalhost bool
}

func (c *Config) setDefaults() {
	dur := func(p *time.Duration, d time.Duration) {
		if *p == 0 {
			*p = d
		}
	}
	num := func(p *int, n int) {
		if *p <= 0 {
			*p = n
		}
	}
	if c.Clock == nil {
		c.Clock = clock.System{}
	}
	if c.Metrics == nil {
		c.Metrics = nopMetrics{}
	}
	num(&c.CacheSize, 100000)
	if c.CacheMaxBytes <= 0 {
		c.CacheMaxBytes = DefaultCacheMaxBytes
	}
	num(&c.DelegationCacheSize, 10000)
	num(&c.ServerCacheSize, 10000)
	num(&c.FailureCacheSize, 10000)
	dur(&c.MaxTTL, 24*time.Hour)
	dur(&c.NegativeMaxTTL, time.Hour)
	dur(&c.FailureTTL, 5*time.Second)
	dur(&c.FailureMaxTTL, 30*time.Second)
	dur(&c.StaleClientTimeout, 1800*time.Millisecond)
	if c.StaleTTL == 0 {
		c.StaleTTL = 30
	}
	dur(&c.MaxStale, 24*time.Hour)
	dur(&c.UpstreamTimeout, 1500*time.Millisecond)
	dur(&c.InitialTimeout, 800*time.Millisecond)
	dur(&c.MinTimeout, 150*time.Millisecond)
	dur(&c.Deadline, 5*time.Second)
	num(&c.MaxSends, 32)
	num(&c.MaxCNAME, 12)
	num(&c.MaxNSLookups, 8)
	num(&c.MaxNSPerReferal, 3)
	num(&c.MaxDepth, 4)
	num(&c.MaxInFlight, 1000)
	num(&c.MaxPerServer, c.MaxInFlight)
	num(&c.MaxPerFailingServer, 4)
	num(&c.MaxRecordsPerRRset, 100)
	num(&c.MaxTypesPerName, 100)
	dur(&c.LameTTL, 5*time.Minute)
	dur(&c.BrokenTTL, 10*time.Second)
	dur(&c.HealthInterval, 2*time.Second)
	if c.InitialTimeout > c.UpstreamTimeout {
		c.InitialTimeout = c.UpstreamTimeout
	}
	if c.MinTimeout > c.UpstreamTimeout {
		c.MinTimeout = c.UpstreamTimeout
	}
}
