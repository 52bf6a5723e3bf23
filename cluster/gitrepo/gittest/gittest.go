// Package gittest starts real git servers on 127.0.0.1 for tests: `git
// daemon` (git://) and `git http-backend` behind Go's net/http/cgi
// (http://) with basic or bearer auth and failure modes a test can switch
// (404, 401, 500, connection reset, blackhole), plus a TCP blackhole for
// deadline tests. Everything stops at the end of the test.
package gittest

import (
	"bytes"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ExecPath returns the path of a git helper program (git-http-backend,
// git-daemon), or skips the test when git is not installed.
func ExecPath(t testing.TB, name string) string {
	t.Helper()
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Skipf("git is not installed: %v", err)
	}
	p := filepath.Join(strings.TrimSpace(string(out)), name)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("%s not installed: %v", name, err)
	}
	return p
}

// Daemon is a `git daemon` serving every repository under Root.
type Daemon struct {
	Root string
	Addr string // 127.0.0.1:port
	cmd  *exec.Cmd
	once sync.Once
}

// StartDaemon starts `git daemon` on a free port of 127.0.0.1.
func StartDaemon(t testing.TB, root string) *Daemon {
	t.Helper()
	bin := ExecPath(t, "git-daemon")
	for try := 0; try < 5; try++ {
		port := freePort(t)
		d := &Daemon{Root: root, Addr: fmt.Sprintf("127.0.0.1:%d", port)}
		var stderr bytes.Buffer
		d.cmd = exec.Command(bin, "--reuseaddr", "--export-all", "--informative-errors",
			"--base-path="+root, "--listen=127.0.0.1", fmt.Sprintf("--port=%d", port), root)
		d.cmd.Stderr = &stderr
		if err := d.cmd.Start(); err != nil {
			t.Fatalf("git daemon: %v", err)
		}
		exited := make(chan struct{})
		go func() { d.cmd.Wait(); close(exited) }()
		if waitListening(d.Addr, exited) {
			t.Cleanup(d.Stop)
			return d
		}
		d.Stop()
		t.Logf("git daemon on port %d did not start: %s", port, stderr.String())
	}
	t.Fatal("git daemon did not start")
	return nil
}

// URL is the git:// URL of repository name under Root.
func (d *Daemon) URL(name string) string { return "git://" + d.Addr + "/" + name }

// Stop kills the daemon (the remote becomes unreachable).
func (d *Daemon) Stop() {
	d.once.Do(func() {
		if d.cmd.Process != nil {
			d.cmd.Process.Kill()
		}
	})
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitListening(addr string, exited <-chan struct{}) bool {
	for i := 0; i < 200; i++ {
		select {
		case <-exited:
			return false
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// Failure modes of the HTTP server.
const (
	Healthy   = ""
	NotFound  = "404"   // every request answers 404 (seed 001)
	Forbidden = "403"   // every request answers 403
	Unauth    = "401"   // every request answers 401
	Broken    = "500"   // every request answers 500
	Reset     = "reset" // the connection is closed without an answer
	Hang      = "hang"  // the request is never answered (until the test ends)
)

// HTTP is `git http-backend` behind an HTTP server on 127.0.0.1.
type HTTP struct {
	Root string
	Srv  *httptest.Server
	// Credentials required when set: basic User:Password, or bearer Token.
	User, Password, Token string

	mode  atomic.Value // string
	hits  atomic.Int64
	hang  chan struct{}
	hangO sync.Once
}

// StartHTTP serves the repositories under root with git http-backend.
func StartHTTP(t testing.TB, root string) *HTTP { return startHTTP(t, root, false) }

// StartHTTPS is StartHTTP over TLS; CA returns the certificate to trust.
// The server's certificate is valid for 127.0.0.1 and example.com.
func StartHTTPS(t testing.TB, root string) *HTTP { return startHTTP(t, root, true) }

// CA returns the PEM certificate of a StartHTTPS server.
func (h *HTTP) CA() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: h.Srv.Certificate().Raw})
}

func startHTTP(t testing.TB, root string, tls bool) *HTTP {
	t.Helper()
	backend := ExecPath(t, "git-http-backend")
	h := &HTTP{Root: root, hang: make(chan struct{})}
	h.mode.Store(Healthy)
	cgiH := &cgi.Handler{
		Path: backend,
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"},
	}
	h.Srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.hits.Add(1)
		switch m := h.mode.Load().(string); m {
		case Reset:
			if hj, ok := w.(http.Hijacker); ok {
				c, _, err := hj.Hijack()
				if err == nil {
					c.Close()
				}
			}
			return
		case Hang:
			select {
			case <-h.hang:
			case <-r.Context().Done():
			}
			return
		case NotFound, Forbidden, Unauth, Broken:
			code := map[string]int{NotFound: 404, Forbidden: 403, Unauth: 401, Broken: 500}[m]
			http.Error(w, http.StatusText(code), code)
			return
		}
		if !h.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		cgiH.ServeHTTP(w, r)
	}))
	if tls {
		h.Srv.StartTLS()
	} else {
		h.Srv.Start()
	}
	t.Cleanup(func() {
		h.hangO.Do(func() { close(h.hang) })
		h.Srv.CloseClientConnections()
		h.Srv.Close()
	})
	return h
}

func (h *HTTP) authorized(r *http.Request) bool {
	switch {
	case h.Token != "":
		return r.Header.Get("Authorization") == "Bearer "+h.Token
	case h.User != "":
		u, p, ok := r.BasicAuth()
		return ok && u == h.User && p == h.Password
	}
	return true
}

// SetMode switches the failure mode (Healthy restores service).
func (h *HTTP) SetMode(m string) { h.mode.Store(m) }

// Hits counts the requests received.
func (h *HTTP) Hits() int64 { return h.hits.Load() }

// URL is the http:// URL of repository name under Root.
func (h *HTTP) URL(name string) string { return h.Srv.URL + "/" + name }

// Blackhole accepts TCP connections and never answers: fetches against it
// must end at their deadline. It returns the address.
func Blackhole(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return l.Addr().String()
}
