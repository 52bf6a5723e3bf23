package fallback

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/gitops-dns/resolverd/cluster/gitrepo"
	"github.com/gitops-dns/resolverd/staging"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/miekg/dns"

	_ "github.com/gitops-dns/resolverd/plugins/authority"
	_ "github.com/gitops-dns/resolverd/plugins/gitops"
	_ "github.com/gitops-dns/resolverd/plugins/recursor"
)

// TestFullChain runs the product's chain on a real CoreDNS server on
// 127.0.0.1: gitops (serving a config repo committed by the test) ->
// fallback -> authority -> recursor, with one forwarder blackholed and one
// healthy (real DNS servers on 127.0.0.1).
func TestFullChain(t *testing.T) {
	blackholeAddr := blackhole(t)
	healthyAddr := upstreamServer(t, false)
	port := freePort(t)
	_, bh, _ := net.SplitHostPort(blackholeAddr)
	_, hp, _ := net.SplitHostPort(healthyAddr)

	// The config repo, as a real git repository.
	dir := t.TempDir()
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	src := os.DirFS("testdata/fullchain")
	err = fs.WalkDir(src, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(src, p)
		if err != nil {
			return err
		}
		var b bytes.Buffer
		if err := template.Must(template.New(p).Parse(string(data))).Execute(&b, map[string]string{"Port": fmt.Sprint(port), "Blackhole": bh, "Healthy": hp}); err != nil {
			return err
		}
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
		return os.WriteFile(filepath.Join(dir, p), b.Bytes(), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	wt, _ := repo.Worktree()
	if err := wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		t.Fatal(err)
	}
	sig := &object.Signature{Name: "Operator", Email: "op@corp.internal", When: time.Unix(1_767_225_600, 0)}
	head, err := wt.Commit("config", &git.CommitOptions{Author: sig})
	if err != nil {
		t.Fatal(err)
	}

	corefile := fmt.Sprintf(`.:%d {
    bind 127.0.0.1
    gitops {
        repo    %s
        ref     refs/heads/master
        cluster dev
        node    local
        poll    1h
        state   %s
    }
    fallback {
        timeout 700ms
    }
    authority
    recursor {
        upstream_timeout 500ms
        deadline 1s
    }
}
`, port, dir, filepath.Join(t.TempDir(), "state"))
	caddy.Quiet, dnsserver.Quiet = true, true
	inst, err := caddy.Start(caddy.CaddyfileInput{Contents: []byte(corefile), Filepath: "Corefile.fullchain", ServerTypeName: "dns"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		// As SIGTERM does: the shutdown callbacks end gitops's sync loop.
		inst.ShutdownCallbacks()
		inst.Stop()
	}()
	addr := fmt.Sprintf("127.0.0.1:%d", port)

	// Wait (bounded) until the node serves the commit.
	c := &dns.Client{Net: "udp", Timeout: 5 * time.Second}
	served := ""
	for i := 0; i < 100 && served != head.String(); i++ {
		q := new(dns.Msg)
		q.SetQuestion("version.config.", dns.TypeTXT)
		q.Question[0].Qclass = dns.ClassCHAOS
		if r, _, err := c.Exchange(q, addr); err == nil && len(r.Answer) == 1 {
			served = strings.Join(r.Answer[0].(*dns.TXT).Txt, "")
		}
		if served != head.String() {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if served != head.String() {
		t.Fatalf("node serves %q, want %s", served, head)
	}

	tests := []struct {
		qname      string
		wantRcode  int
		wantAnswer string
		fallback   bool
	}{
		{"db-primary.corp.internal.", dns.RcodeSuccess, "198.18.5.10", false}, // authority answers
		{"git.corp.internal.", dns.RcodeSuccess, "198.18.5.21", false},        // the real answer wins over the fallback's .20
		{"api.good.example.", dns.RcodeSuccess, "198.18.99.99", false},        // healthy forwarder wins over the fallback's .40
		{"ct.log.example.", dns.RcodeSuccess, "198.18.9.30", true},            // forwarder blackholed: fallback
		{"other.example.", dns.RcodeServerFailure, "", false},                 // not critical: SERVFAIL
	}
	verifyDrift(t, repo, head, blackholeAddr, healthyAddr)

	for _, net := range []string{"udp", "tcp"} {
		for _, tc := range tests {
			c := &dns.Client{Net: net, Timeout: 5 * time.Second}
			resp, _, err := c.Exchange(query(tc.qname, dns.TypeA, true), addr)
			if err != nil {
				t.Fatalf("%s %s: %v", net, tc.qname, err)
			}
			got := ""
			if len(resp.Answer) > 0 {
				got = answers(resp)[len(resp.Answer)-1]
			}
			e := ede(resp)
			isFallback := e != nil && strings.HasPrefix(e.ExtraText, EDEText)
			if resp.Rcode != tc.wantRcode || got != tc.wantAnswer || isFallback != tc.fallback {
				t.Errorf("%s %s: rcode %s answer %q EDE %v; want %s %q fallback=%t", net, tc.qname,
					dns.RcodeToString[resp.Rcode], got, e, dns.RcodeToString[tc.wantRcode], tc.wantAnswer, tc.fallback)
				continue
			}
			if tc.fallback && resp.Answer[0].Header().Ttl != 30 {
				t.Errorf("%s %s: fallback TTL %d, want 30", net, tc.qname, resp.Answer[0].Header().Ttl)
			}
		}
	}
}

// verifyDrift runs dnsctl verify's engine against the node: the healthy
// path answers git.corp.internal. with .21 while the fallback says .20, a
// drift verify must report naming both; ct.log.example. is answered from
// fallback, which verify must report too.
func verifyDrift(t *testing.T, repo *git.Repository, head plumbing.Hash, blackholeAddr, healthyAddr string) {
	rev, _, err := gitrepo.LoadCommit(repo, head, "")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := staging.Verify(context.Background(), rev, "dev", staging.Options{Wait: 5 * time.Second, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	rep.Render(&text, "text")
	want := map[string]struct {
		status staging.Status
		detail string
	}{
		"probe db-primary":                        {staging.StatusPass, ""},
		"fallback db-primary.corp.internal. A":    {staging.StatusPass, ""},
		"fallback git.corp.internal. A":           {staging.StatusWarn, "drift: fallback says 198.18.5.20, normal resolution says 198.18.5.21"},
		"fallback api.good.example. A":            {staging.StatusWarn, "drift: fallback says 198.18.9.40, normal resolution says 198.18.99.99"},
		"fallback ct.log.example. A":              {staging.StatusWarn, "answered from its fallback records"},
		"forward example. -> " + blackholeAddr:    {staging.StatusFail, "does not answer"},
		"forward good.example. -> " + healthyAddr: {staging.StatusPass, ""},
	}
	seen := 0
	for _, c := range rep.Checks {
		w, ok := want[string(c.Kind)+" "+c.Subject]
		if !ok {
			continue
		}
		seen++
		if c.Status != w.status || !strings.Contains(c.Detail, w.detail) {
			t.Errorf("%s %s: %s %q, want %s %q", c.Kind, c.Subject, c.Status, c.Detail, w.status, w.detail)
		}
	}
	if seen != len(want) || rep.Pass {
		t.Errorf("checks seen %d of %d, pass %t (the blackholed forwarder must fail it):\n%s", seen, len(want), rep.Pass, text.String())
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	for i := 0; i < 20; i++ {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		pc.Close()
		if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			l.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}
