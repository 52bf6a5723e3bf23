package recursor

import (
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"

	"github.com/gitops-dns/resolverd/plugins/internal/corefiletest"
	"github.com/gitops-dns/resolverd/resolver"
)

func TestREADMECorefileExamples(t *testing.T) {
	for _, text := range corefiletest.Directive(t, "README.md", "recursor") {
		c := caddy.NewTestController("dns", text)
		if err := setup(c); err != nil {
			t.Fatalf("README example %q: %v", text, err)
		}
		if n := len(dnsserver.GetConfig(c).Plugin); n != 1 {
			t.Fatalf("README example %q: %d plugins added", text, n)
		}
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name, input string
		wantErr     string
		check       func(t *testing.T, c caddyCfg)
	}{
		{name: "bare", input: "recursor", check: func(t *testing.T, c caddyCfg) {
			if c.CacheSize != 0 || c.Deadline != 0 {
				t.Fatalf("defaults changed: %+v", c)
			}
		}},
		{name: "every setting", input: `recursor {
			cache_size 5000
			cache_max_bytes 64m
			delegation_cache_size 100
			max_ttl 1h
			negative_max_ttl 10m
			failure_ttl 3s
			stale_timeout 1s
			max_stale 12h
			upstream_timeout 800ms
			deadline 3s
			max_sends 20
			max_inflight 50
			max_records_per_rrset 200
			max_types_per_name 20
			port 5353
			no_qname_minimisation
			no_ipv6
			udp_pool
			no_0x20
			query_localhost
		}`, check: func(t *testing.T, c caddyCfg) {
			if c.CacheSize != 5000 || c.CacheMaxBytes != 64<<20 || c.DelegationCacheSize != 100 || c.MaxTTL != time.Hour || c.NegativeMaxTTL != 10*time.Minute ||
				c.FailureTTL != 3*time.Second || c.StaleClientTimeout != time.Second || c.MaxStale != 12*time.Hour ||
				c.UpstreamTimeout != 800*time.Millisecond || c.Deadline != 3*time.Second || c.MaxSends != 20 || c.MaxInFlight != 50 ||
				c.Port != 5353 || !c.DisableQNAMEMinimisation || !c.DisableIPv6 || c.MaxRecordsPerRRset != 200 || c.MaxTypesPerName != 20 || !c.UDPPool || !c.Disable0x20 ||
				!c.QueryLocalhost {
				t.Fatalf("parsed %+v", c)
			}
		}},
		{name: "override date", input: "recursor {\n dnssec_override_date 20261201120000\n}", check: func(t *testing.T, c caddyCfg) {
			if c.DNSSEC == nil || !c.DNSSEC.OverrideDate.Equal(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)) {
				t.Fatalf("parsed %+v", c.DNSSEC)
			}
		}},
		{name: "bad override date", input: "recursor {\n dnssec_override_date yesterday\n}", wantErr: "YYYYMMDDHHMMSS"},
		{name: "unknown property", input: "recursor {\n foo 1\n}", wantErr: `unknown property "foo"`},
		{name: "argument", input: "recursor 8.8.8.8", wantErr: "Wrong argument count"},
		{name: "bad number", input: "recursor {\n cache_size lots\n}", wantErr: "cache_size"},
		{name: "zero cache", input: "recursor {\n cache_size 0\n}", wantErr: "cache_size"},
		{name: "bytes without suffix", input: "recursor {\n cache_max_bytes 1048576\n}", check: func(t *testing.T, c caddyCfg) {
			if c.CacheMaxBytes != 1<<20 {
				t.Fatalf("cache_max_bytes %d", c.CacheMaxBytes)
			}
		}},
		{name: "bytes in G", input: "recursor {\n cache_max_bytes 2G\n}", check: func(t *testing.T, c caddyCfg) {
			if c.CacheMaxBytes != 2<<30 {
				t.Fatalf("cache_max_bytes %d", c.CacheMaxBytes)
			}
		}},
		{name: "bytes too small", input: "recursor {\n cache_max_bytes 100\n}", wantErr: "cache_max_bytes"},
		{name: "bytes not a size", input: "recursor {\n cache_max_bytes 1mb\n}", wantErr: "cache_max_bytes"},
		{name: "bytes overflow", input: "recursor {\n cache_max_bytes 99999999999999t\n}", wantErr: "cache_max_bytes"},
		{name: "bad duration", input: "recursor {\n deadline soon\n}", wantErr: "deadline"},
		{name: "deadline out of range", input: "recursor {\n deadline 2h\n}", wantErr: "deadline"},
		{name: "flag with argument", input: "recursor {\n no_ipv6 yes\n}", wantErr: "no_ipv6 takes no argument"},
		{name: "two arguments", input: "recursor {\n port 1 2\n}", wantErr: "exactly one argument"},
		{name: "twice", input: "recursor\nrecursor", wantErr: "only be used once"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := caddy.NewTestController("dns", tc.input)
			cfg, err := parse(c)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, caddyCfg(cfg))
		})
	}
}

type caddyCfg = resolver.Config
