package gitops

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/cluster/model"
	"github.com/gitops-dns/resolverd/internal/version"
	"github.com/gitops-dns/resolverd/node"
	"github.com/gitops-dns/resolverd/node/syncer"
	"github.com/gitops-dns/resolverd/plugins/internal/corefiletest"
	"github.com/gitops-dns/resolverd/plugins/internal/source"
)

func TestSetupREADME(t *testing.T) {
	blocks := corefiletest.Directive(t, "README.md", "gitops")
	if len(blocks) < 2 {
		t.Fatalf("README has %d corefile examples with gitops", len(blocks))
	}
	for _, b := range blocks {
		c := caddy.NewTestController("dns", b)
		if err := setup(c); err != nil {
			t.Errorf("README example does not parse: %v\n%s", err, b)
		}
	}
}

func TestParse(t *testing.T) {
	wd, _ := os.Getwd()
	tests := []struct {
		name  string
		in    string
		err   string // substring of the error; "" = valid
		check func(t *testing.T, c Config)
	}{
		{"design example", `gitops {
			repo . 
			ref refs/heads/main
			path examples/dns-config
			cluster dev
			node local
			poll 5s
			state .resolverd-state
		}`, "", func(t *testing.T, c Config) {
			if c.Remote.URL != wd || c.State != filepath.Join(wd, ".resolverd-state") {
				t.Errorf("relative paths not made absolute: %q %q", c.Remote.URL, c.State)
			}
			if c.Poll != 5*time.Second || c.Path != "examples/dns-config" || c.Cluster != "dev" || c.Node != "local" {
				t.Errorf("parsed %+v", c)
			}
		}},
		{"url argument and extensions", `gitops git://git.corp.internal:9418/dns {
			cluster c
			node n
			hosts git.corp.internal 198.18.5.20
			fetch_timeout 3s
			depth 0
			probes off
			http 127.0.0.1:0
			ca_file /etc/ssl/corp-ca.pem
		}`, "", func(t *testing.T, c Config) {
			if c.Remote.CAFile != "/etc/ssl/corp-ca.pem" {
				t.Errorf("ca_file: %q", c.Remote.CAFile)
			}
			if c.Remote.URL != "git://git.corp.internal:9418/dns" || c.Remote.Timeout != 3*time.Second ||
				c.Remote.Depth != 0 || c.Probes || c.Remote.Hosts["git.corp.internal"].String() != "198.18.5.20" {
				t.Errorf("parsed %+v", c)
			}
			if c.State != filepath.Join(wd, syncer.DefaultState) || c.Poll != syncer.DefaultPoll || c.ProbeInterval != syncer.DefaultProbeInterval {
				t.Errorf("defaults %+v", c)
			}
		}},
		{"no repo", "gitops {\ncluster c\nnode n\n}", "repo is required", nil},
		{"no cluster", "gitops . {\nnode n\n}", "cluster is required", nil},
		{"no node", "gitops . {\ncluster c\n}", "node is required", nil},
		{"bad poll", "gitops . {\ncluster c\nnode n\npoll never\n}", "not a positive duration", nil},
		{"negative poll", "gitops . {\ncluster c\nnode n\npoll -1s\n}", "not a positive duration", nil},
		{"unknown", "gitops . {\ncluster c\nnode n\nfrobnicate 1\n}", "unknown property", nil},
		{"host via DNS", "gitops https://git.example.com/x.git {\ncluster c\nnode n\n}", "static `hosts` entry", nil},
		{"bad hosts address", "gitops . {\ncluster c\nnode n\nhosts git nope\n}", "not an IP address", nil},
		{"ssh without known_hosts", "gitops ssh://git@198.18.5.20/dns.git {\ncluster c\nnode n\nssh_key /k\n}", "known_hosts", nil},
		{"bad scheme", "gitops ftp://198.18.5.20/x {\ncluster c\nnode n\n}", "unsupported scheme", nil},
		{"two args", "gitops a b {\ncluster c\nnode n\n}", "Wrong argument count", nil},
		{"bad depth", "gitops . {\ncluster c\nnode n\ndepth -1\n}", "depth", nil},
		{"hide_version", "gitops . {\ncluster c\nnode n\nhide_version\n}", "", func(t *testing.T, c Config) {
			if !c.HideVersion {
				t.Error("hide_version not set")
			}
		}},
		{"version shown by default", "gitops . {\ncluster c\nnode n\n}", "", func(t *testing.T, c Config) {
			if c.HideVersion {
				t.Error("version hidden without hide_version")
			}
		}},
		{"hide_version with an argument", "gitops . {\ncluster c\nnode n\nhide_version yes\n}", "Wrong argument count", nil},
		{"probe_interval", "gitops . {\ncluster c\nnode n\nprobe_interval 1m\n}", "", func(t *testing.T, c Config) {
			if c.ProbeInterval != time.Minute {
				t.Errorf("probe_interval %s", c.ProbeInterval)
			}
		}},
		{"probe_interval 0 is off", "gitops . {\ncluster c\nnode n\nprobe_interval 0\n}", "", func(t *testing.T, c Config) {
			if c.ProbeInterval != 0 {
				t.Errorf("probe_interval %s, want 0 (off)", c.ProbeInterval)
			}
		}},
		{"bad probe_interval", "gitops . {\ncluster c\nnode n\nprobe_interval -1s\n}", "probe_interval", nil},
		{"missing trust file", "gitops . {\ncluster c\nnode n\ntrust /nonexistent/trusted.asc\n}", "trust", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := caddy.NewTestController("dns", tc.in)
			cfg, err := parse(c)
			if err == nil {
				_, err = New(cfg)
			}
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("error %v, want one containing %q", err, tc.err)
			case tc.check != nil:
				tc.check(t, cfg)
			}
		})
	}
}

// SourceOf returns the server block's source whether gitops's setup runs
// before or after the caller's.
func TestSourceOfAnyOrder(t *testing.T) {
	c := caddy.NewTestController("dns", "gitops . {\ncluster dev\nnode local\n}")
	early := source.Of(c)
	if err := setup(c); err != nil {
		t.Fatal(err)
	}
	late := source.Of(c)
	g := dnsserver.GetConfig(c).Plugin[0](nil).(*GitOps)
	if early != late || node.Source(g.holder) != early {
		t.Fatal("SourceOf differs before and after setup")
	}
	snap := &node.Snapshot{Revision: &model.Revision{ID: strings.Repeat("ab", 20)}}
	g.holder.Store(snap)
	if early.Snapshot() != snap || g.Snapshot() != snap {
		t.Fatal("source does not see what gitops serves")
	}
	other := caddy.NewTestController("dns", "gitops . {\ncluster dev\nnode local\n}")
	if source.Of(other) == early {
		t.Fatal("two server blocks share a source")
	}
	if node.StaticSource(snap).Snapshot() != snap {
		t.Fatal("StaticSource")
	}
}

func TestServeDNS(t *testing.T) {
	id := strings.Repeat("0123456789", 4)
	g, _ := New(Config{Config: syncer.Config{Node: "ns1"}})
	g.Next = test.NextHandler(dns.RcodeNameError, nil)
	tests := []struct {
		name  string
		qname string
		qtype uint16
		class uint16
		snap  bool
		rcode int
		txt   string
		hide  bool // hide_version
	}{
		{"revision", "version.config.", dns.TypeTXT, dns.ClassCHAOS, true, dns.RcodeSuccess, id, false},
		{"revision, mixed case", "Version.Config.", dns.TypeTXT, dns.ClassCHAOS, true, dns.RcodeSuccess, id, false},
		{"revision, not served yet", "version.config.", dns.TypeTXT, dns.ClassCHAOS, false, dns.RcodeServerFailure, "", false},
		{"revision, type A: no data", "version.config.", dns.TypeA, dns.ClassCHAOS, true, dns.RcodeSuccess, "", false},
		{"node name", "id.server.", dns.TypeTXT, dns.ClassCHAOS, true, dns.RcodeSuccess, "ns1", false},
		{"node name bind", "hostname.bind.", dns.TypeTXT, dns.ClassCHAOS, true, dns.RcodeSuccess, "ns1", false},
		{"version", "version.bind.", dns.TypeTXT, dns.ClassCHAOS, true, dns.RcodeSuccess, "resolverd " + version.String(), false},
		{"version server", "VERSION.SERVER.", dns.TypeTXT, dns.ClassCHAOS, false, dns.RcodeSuccess, "resolverd " + version.String(), false},
		{"version hidden", "version.bind.", dns.TypeTXT, dns.ClassCHAOS, true, dns.RcodeRefused, "", true},
		{"version server hidden", "version.server.", dns.TypeTXT, dns.ClassCHAOS, true, dns.RcodeRefused, "", true},
		{"other chaos passes", "authors.bind.", dns.TypeTXT, dns.ClassCHAOS, true, dns.RcodeNameError, "", false},
		{"IN passes", "version.config.", dns.TypeTXT, dns.ClassINET, true, dns.RcodeNameError, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g.holder.Store(nil)
			g.hideVersion = tc.hide
			if tc.snap {
				g.holder.Store(&node.Snapshot{Revision: &model.Revision{ID: id}})
			}
			m := new(dns.Msg)
			m.SetQuestion(tc.qname, tc.qtype)
			m.Question[0].Qclass = tc.class
			w := dnstest.NewRecorder(&test.ResponseWriter{})
			rc, err := g.ServeDNS(context.Background(), w, m)
			if err != nil {
				t.Fatal(err)
			}
			if w.Msg != nil {
				rc = w.Msg.Rcode
			}
			if rc != tc.rcode {
				t.Fatalf("rcode %s, want %s", dns.RcodeToString[rc], dns.RcodeToString[tc.rcode])
			}
			var got string
			if w.Msg != nil && len(w.Msg.Answer) == 1 {
				got = w.Msg.Answer[0].(*dns.TXT).Txt[0]
			}
			if got != tc.txt {
				t.Fatalf("TXT %q, want %q", got, tc.txt)
			}
		})
	}
}

func TestReady(t *testing.T) {
	g, _ := New(Config{})
	if g.Ready() {
		t.Fatal("ready without a snapshot")
	}
	g.holder.Store(&node.Snapshot{Revision: &model.Revision{ID: "x"}})
	if !g.Ready() {
		t.Fatal("not ready with a snapshot")
	}
}

func TestListenAddr(t *testing.T) {
	for _, tc := range []struct {
		hosts []string
		port  string
		want  string
	}{
		{nil, "1053", "127.0.0.1:1053"},
		{[]string{""}, "53", "127.0.0.1:53"},
		{[]string{"0.0.0.0"}, "53", "127.0.0.1:53"},
		{[]string{"198.18.1.1", "127.0.0.1"}, "53", "198.18.1.1:53"},
		{[]string{"::1"}, "5353", "[::1]:5353"},
		{[]string{"::", "127.0.0.2"}, "", "127.0.0.2:53"},
	} {
		if got := listenAddr(&dnsserver.Config{ListenHosts: tc.hosts, Port: tc.port}); got != tc.want {
			t.Errorf("listenAddr(%v, %q) = %q, want %q", tc.hosts, tc.port, got, tc.want)
		}
	}
}
