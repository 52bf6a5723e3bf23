// Package e2e runs the real resolverd binary against a real git repository
// and queries it with real clients (dig and miekg/dns) over UDP and TCP on
// loopback: the user story of the first slice, end to end.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/miekg/dns"
)

var resolverdBin, dnsctlBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "resolverd-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	resolverdBin = filepath.Join(dir, "resolverd")
	dnsctlBin = filepath.Join(dir, "dnsctl")
	for bin, pkg := range map[string]string{resolverdBin: "./cmd/resolverd", dnsctlBin: "./cmd/dnsctl"} {
		build := exec.Command("go", "build", "-o", bin, "github.com/gitops-dns/resolverd/"+strings.TrimPrefix(pkg, "./"))
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building", pkg+":", err)
			os.Exit(2)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// configRepo is a temporary config repository, committed with go-git.
type configRepo struct {
	t    *testing.T
	dir  string
	repo *git.Repository
}

func newConfigRepo(t *testing.T, files map[string]string) *configRepo {
	t.Helper()
	dir := t.TempDir()
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	// Name the branch main whatever the machine's git defaults say.
	if err := os.WriteFile(filepath.Join(dir, ".git", "HEAD"), []byte("ref: refs/heads/main\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := &configRepo{t: t, dir: dir, repo: repo}
	c.commit("initial config", files)
	return c
}

// commit writes files (content "" deletes) and commits them; it returns the commit id.
func (c *configRepo) commit(msg string, files map[string]string) string {
	c.t.Helper()
	wt, err := c.repo.Worktree()
	if err != nil {
		c.t.Fatal(err)
	}
	for name, content := range files {
		p := filepath.Join(c.dir, name)
		if content == "" {
			if _, err := wt.Remove(name); err != nil {
				c.t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			c.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			c.t.Fatal(err)
		}
		if _, err := wt.Add(name); err != nil {
			c.t.Fatal(err)
		}
	}
	h, err := wt.Commit(msg, &git.CommitOptions{Author: &object.Signature{Name: "SRE", Email: "sre@corp.internal", When: time.Now()}})
	if err != nil {
		c.t.Fatal(err)
	}
	return h.String()
}

// freePort returns a port free on 127.0.0.1 for both UDP and TCP.
func freePort(t *testing.T) int {
	t.Helper()
	for i := 0; i < 50; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// node is one resolverd process.
type node struct {
	t                   *testing.T
	bindAddr            string
	port, metrics, read int
	corefile, state     string
	cmd                 *exec.Cmd
	mu                  sync.Mutex
	log                 bytes.Buffer
	stdout              io.Writer // nil: the log, with stderr
}

func newNode(t *testing.T, repoDir, state string) *node {
	return newClusterNode(t, repoDir, state, nodeSpec{})
}

// nodeSpec says which cluster and node a resolverd process is, where it
// listens and which ref it follows; zero values mean the dev node on
// 127.0.0.1 following main.
type nodeSpec struct {
	bind, ref, cluster, name string
	fastpath                 string // the fastpath directive with its block; "" = bare
	gitops                   string // more lines of the gitops block (http, sync_token_file)
	recursor                 string // the recursor block's settings, one per line ("" = none)
}

func newClusterNode(t *testing.T, repoDir, state string, spec nodeSpec) *node {
	if spec.bind == "" {
		spec.bind = "127.0.0.1"
	}
	if spec.ref == "" {
		spec.ref = "refs/heads/main"
	}
	if spec.cluster == "" {
		spec.cluster, spec.name = "dev", "local"
	}
	if spec.fastpath == "" {
		spec.fastpath = "fastpath"
	}
	n := &node{t: t, bindAddr: spec.bind, port: freePort(t), metrics: freePort(t), read: freePort(t), state: state}
	n.writeCorefile(repoDir, spec)
	return n
}

// writeCorefile writes the node's Corefile for its ports and state.
func (n *node) writeCorefile(repoDir string, spec nodeSpec) {
	t := n.t
	n.corefile = filepath.Join(t.TempDir(), "Corefile")
	conf := fmt.Sprintf(`.:%d {
    bind %s
    gitops {
        repo    %s
        ref     %s
        cluster %s
        node    %s
        poll    200ms
        state   %s
        %s
    }
    %s
    fallback
    authority
    recursor {
        query_localhost
%s
    }
    prometheus 127.0.0.1:%d
    ready 127.0.0.1:%d
    errors
}
`, n.port, spec.bind, repoDir, spec.ref, spec.cluster, spec.name, n.state, spec.gitops, spec.fastpath, spec.recursor, n.metrics, n.read)
	if err := os.WriteFile(n.corefile, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
}

// recursorBlock is the extra lines of the recursor plugin's block.
func (n *node) start() {
	n.t.Helper()
	n.cmd = exec.Command(resolverdBin, "-conf", n.corefile)
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, pw := io.Pipe()
	n.cmd.Stdout, n.cmd.Stderr = pw, pw
	if n.stdout != nil {
		n.cmd.Stdout = n.stdout
	}
	go func() {
		s := bufio.NewScanner(pr)
		for s.Scan() {
			n.mu.Lock()
			n.log.WriteString(s.Text() + "\n")
			n.mu.Unlock()
		}
	}()
	if err := n.cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	n.t.Cleanup(func() {
		n.stop()
		if n.t.Failed() {
			n.t.Logf("resolverd log:\n%s", n.logText())
		}
	})
}

func (n *node) stop() {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	syscall.Kill(-n.cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { n.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	n.cmd = nil
}

func (n *node) logText() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.log.String()
}

func (n *node) addr() string { return fmt.Sprintf("%s:%d", n.bindAddr, n.port) }

// query asks the node over net ("udp" or "tcp") with miekg/dns.
func (n *node) query(netw, name string, qtype uint16, class uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.Question[0].Qclass = class
	c := &dns.Client{Net: netw, Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, n.addr())
	return r, err
}

// servedRevision is what `dig CH TXT version.config.` says.
func (n *node) servedRevision() string {
	r, err := n.query("udp", "version.config.", dns.TypeTXT, dns.ClassCHAOS)
	if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		return ""
	}
	if txt, ok := r.Answer[0].(*dns.TXT); ok && len(txt.Txt) == 1 {
		return txt.Txt[0]
	}
	return ""
}

// waitServed waits until the node serves rev.
func (n *node) waitServed(rev string, within time.Duration) {
	n.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if n.servedRevision() == rev {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	n.t.Fatalf("node does not serve %s after %v (serves %q)", rev, within, n.servedRevision())
}

// metric returns the sum of every sample of a Prometheus metric whose line
// starts with name (labels included in the prefix if given).
func (n *node) metric(prefix string) float64 {
	n.t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", n.metrics))
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	var sum float64
	s := bufio.NewScanner(resp.Body)
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		line := s.Text()
		if strings.HasPrefix(line, "#") || !strings.HasPrefix(line, prefix) {
			continue
		}
		var v float64
		f := strings.Fields(line)
		fmt.Sscan(f[len(f)-1], &v)
		sum += v
	}
	return sum
}

// dig runs the real dig client; it returns dig's +short output.
func dig(t *testing.T, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("dig"); err != nil {
		t.Skip("dig not installed (Debian: bind9-dnsutils); .ci/run installs it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "dig", append([]string{"+time=2", "+tries=1"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("dig %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// serveUDPAndTCP runs h on addr over UDP and TCP until the test ends, as a
// scripted authority or forwarder the node under test asks.
func serveUDPAndTCP(t *testing.T, addr string, h dns.Handler) {
	t.Helper()
	for _, netw := range []string{"udp", "tcp"} {
		srv := &dns.Server{Addr: addr, Net: netw, Handler: h}
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ListenAndServe()
		select {
		case <-started:
		case <-time.After(5 * time.Second):
			t.Fatalf("server on %s/%s did not start", addr, netw)
		}
		t.Cleanup(func() { srv.Shutdown() })
	}
}
