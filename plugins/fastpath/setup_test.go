package fastpath

import (
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"

	"github.com/gitops-dns/resolverd/fastpath"
	"github.com/gitops-dns/resolverd/plugins/internal/corefiletest"
)

// rootController is a test controller for input inside a `.:PORT` block of
// plain DNS, as setup requires.
func rootController(input string) *caddy.Controller {
	c := caddy.NewTestController("dns", input)
	dc := dnsserver.GetConfig(c)
	dc.Zone, dc.Transport, dc.Port = ".", "dns", "1053"
	return c
}

func TestREADMECorefileExamples(t *testing.T) {
	for _, text := range corefiletest.Directive(t, "README.md", "fastpath") {
		c := rootController(text)
		if err := setup(c); err != nil {
			t.Fatalf("README example %q: %v", text, err)
		}
		if dnsserver.GetConfig(c).UDPDecorateWriterFunc == nil {
			t.Fatalf("README example %q: no hook on CoreDNS's UDP server", text)
		}
		// fastpath is not a link of the chain.
		if n := len(dnsserver.GetConfig(c).Plugin); n != 0 {
			t.Fatalf("README example %q: %d plugins added to the chain", text, n)
		}
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name, input string
		want        Config
		wantErr     string
	}{
		{name: "bare", input: "fastpath", want: DefaultConfig},
		{name: "empty block", input: "fastpath {\n}", want: DefaultConfig},
		{name: "every option", input: "fastpath {\n sockets 2\n recv_buffer 8388608\n cache 5000\n max_records 20000\n max_slow 64\n log_sample 100\n tcp_connections 100\n tcp_per_client 10\n tcp_pipeline 4\n}",
			want: Config{Sockets: 2, RecvBuffer: 8388608, CacheSize: 5000, MaxRecords: 20000, MaxSlow: 64, LogSample: 100,
				TCP: fastpath.TCPOptions{MaxConns: 100, MaxPerClient: 10, MaxInFlight: 4, IdleTimeout: fastpath.DefaultTCPIdleTimeout, WriteTimeout: fastpath.DefaultTCPWriteTimeout}}},
		{name: "cache off, no precompute limit", input: "fastpath {\n cache 0\n max_records 0\n}",
			want: Config{CacheSize: 0, MaxRecords: 0, MaxSlow: DefaultConfig.MaxSlow, LogSample: 1, TCP: DefaultConfig.TCP}},
		{name: "fast-path answers not logged", input: "fastpath {\n log_sample 0\n}",
			want: Config{CacheSize: DefaultConfig.CacheSize, MaxRecords: DefaultConfig.MaxRecords, MaxSlow: DefaultConfig.MaxSlow, LogSample: 0, TCP: DefaultConfig.TCP}},
		{name: "log_sample too large", input: "fastpath {\n log_sample 4294967296\n}", wantErr: "log_sample: 4294967296 is more than 4294967295"},
		{name: "tcp_per_client zero", input: "fastpath {\n tcp_per_client 0\n}", wantErr: "tcp_per_client must be at least 1"},
		{name: "argument on the directive", input: "fastpath 2", wantErr: "Wrong argument count"},
		{name: "no value", input: "fastpath {\n sockets\n}", wantErr: "sockets takes one value"},
		{name: "two values", input: "fastpath {\n cache 1 2\n}", wantErr: "cache takes one value"},
		{name: "not a number", input: "fastpath {\n recv_buffer 4MiB\n}", wantErr: `recv_buffer: "4MiB" is not a non-negative integer`},
		{name: "negative", input: "fastpath {\n max_records -1\n}", wantErr: `max_records: "-1" is not a non-negative integer`},
		{name: "too many sockets", input: "fastpath {\n sockets 5000\n}", wantErr: "sockets: 5000 is more than 1024"},
		{name: "max_slow zero", input: "fastpath {\n max_slow 0\n}", wantErr: "max_slow must be at least 1"},
		{name: "unknown option", input: "fastpath {\n workers 4\n}", wantErr: `unknown property "workers" (sockets, recv_buffer, cache, max_records, max_slow, log_sample, tcp_connections, tcp_per_client, tcp_pipeline)`},
		{name: "twice", input: "fastpath\nfastpath", wantErr: "fastpath may appear only once per server block"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parse(caddy.NewTestController("dns", tc.input))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parse(%q) = %+v, %v; want error %q", tc.input, got, err, tc.wantErr)
				}
				// The error names the Corefile position.
				if !strings.Contains(err.Error(), "Testfile:") {
					t.Fatalf("error %q does not name file and line", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("parse(%q) = %+v, %v; want %+v", tc.input, got, err, tc.want)
			}
		})
	}
}

// TestSetupNeedsRootPlainDNS: setup refuses a block it cannot serve in
// front of (another zone, another transport), naming the reason.
func TestSetupNeedsRootPlainDNS(t *testing.T) {
	tests := []struct {
		zone, transport, wantErr string
	}{
		{"corp.internal.", "dns", `needs the server block of the root zone (.:PORT), not "corp.internal."`},
		{".", "tls", "fastpath serves plain DNS over UDP, not tls://"},
		{".", "dns", ""},
	}
	for _, tc := range tests {
		c := caddy.NewTestController("dns", "fastpath")
		dc := dnsserver.GetConfig(c)
		dc.Zone, dc.Transport = tc.zone, tc.transport
		err := setup(c)
		if tc.wantErr == "" {
			if err != nil {
				t.Fatalf("%s %s: %v", tc.zone, tc.transport, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Fatalf("%s %s: error %v, want %q", tc.zone, tc.transport, err, tc.wantErr)
		}
	}
}
