package fastpath

import (
	"bytes"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	// The plugins the tests' Corefiles use; each registers itself.
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/gitops-dns/resolverd/plugins/authority"
	_ "github.com/gitops-dns/resolverd/plugins/fallback"
	_ "github.com/gitops-dns/resolverd/plugins/gitops"
	_ "github.com/gitops-dns/resolverd/plugins/recursor"
)

func init() {
	// The product's plugin order, as cmd/resolverd sets it.
	dnsserver.Directives = []string{
		"bind", "debug", "pprof", "health", "ready", "prometheus", "errors", "log", "dnstap",
		"gitops", "fastpath", "fallback", "authority", "recursor",
		"captureconfig", // the tests' own (querylog_bench_test.go)
	}
}

// configRepo is a real git repository (go-git) holding a config folder at
// its root, committed by the test.
type configRepo struct {
	t    testing.TB
	dir  string
	repo *git.Repository
	wt   *git.Worktree
	src  fs.FS
	n    int
}

// newConfigRepo copies the files of src into a new repository; files
// ending in .tmpl are executed as templates with vars (and lose the suffix).
// It does not commit.
func newConfigRepo(t testing.TB, src fs.FS, vars any) *configRepo {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "config")
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	r := &configRepo{t: t, dir: dir, repo: repo, wt: wt, src: src}
	r.apply(vars)
	return r
}

// apply writes (and stages) every file of the source again, its templates
// executed with vars.
func (r *configRepo) apply(vars any) {
	t := r.t
	t.Helper()
	err := fs.WalkDir(r.src, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(r.src, p)
		if err != nil {
			return err
		}
		if filepath.Ext(p) == ".tmpl" {
			var b bytes.Buffer
			if err := template.Must(template.New(p).Option("missingkey=error").Parse(string(data))).Execute(&b, vars); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			p, data = p[:len(p)-len(".tmpl")], b.Bytes()
		}
		r.write(p, string(data))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// write puts a file in the work tree and stages it.
func (r *configRepo) write(name, content string) {
	r.t.Helper()
	p := filepath.Join(r.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.wt.Add(name); err != nil {
		r.t.Fatal(err)
	}
}

// commit commits what is staged on refs/heads/master.
func (r *configRepo) commit(msg string) plumbing.Hash {
	r.t.Helper()
	r.n++
	sig := &object.Signature{Name: "Operator", Email: "op@corp.internal", When: time.Unix(1_767_225_600+int64(r.n)*60, 0)}
	h, err := r.wt.Commit(msg, &git.CommitOptions{Author: sig})
	if err != nil {
		r.t.Fatal(err)
	}
	return h
}

// freePort is a port free on 127.0.0.1 for both UDP and TCP (caddy keys
// listeners by address: ":0" could hand an instance an earlier one's
// socket), and one freePort has not handed out before in this process:
// CoreDNS's prometheus plugin remembers every metrics address it served
// (plugin/pkg/uniq) and forgets one only on a reload, not on the final
// shutdown a test's cleanup runs (coredns v1.15.0, plugin/metrics
// OnFinalShutdown), so a later node given the same metrics port got no
// listener and its first scrape was refused (TestUDPMatchesTCP, 1 of 30
// runs: the kernel draws ephemeral ports at random, so the package's ~25
// metrics ports repeat one in about a hundred runs).
func freePort(t testing.TB) int {
	t.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	for i := 0; i < 100; i++ {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		pc.Close()
		if handedOut.ports[port] {
			continue
		}
		if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			l.Close()
			handedOut.ports[port] = true
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// handedOut is every port freePort returned in this process.
var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// TestFreePortNeverRepeats: the ports freePort hands out in one process
// are all different (see freePort: a metrics port given twice got no
// listener). A thousand picks from the ~28000 ephemeral ports repeat one
// almost surely when nothing prevents it.
func TestFreePortNeverRepeats(t *testing.T) {
	seen := map[int]bool{}
	for i := 0; i < 1000; i++ {
		p := freePort(t)
		if seen[p] {
			t.Fatalf("pick %d: port %d handed out twice", i, p)
		}
		seen[p] = true
	}
}
