package lab

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// GitIP is the git server host.
const GitIP = "198.18.4.1"

// GitServer is the git host of the lab: a bare repository served by
// `git daemon` (git://198.18.4.1/config.git) and by `git http-backend`
// behind an HTTP server (http://198.18.4.1/config.git) whose answers the
// scenario can break on purpose (404, 500, 403) to play seed 001.
type GitServer struct {
	Bare string // path of the bare repository on disk

	mode    atomic.Value // string: "" (healthy) or an HTTP status to answer
	srv     *http.Server
	mu      sync.Mutex
	hits    map[string]int // status answered -> count
	backend string
}

// GitURL is the git:// remote of the config repo.
func GitURL() string { return "git://" + GitIP + "/config.git" }

// HTTPURL is the smart-HTTP remote of the config repo.
func HTTPURL() string { return "http://" + GitIP + "/config.git" }

func (l *Lab) startGitServer() error {
	root := filepath.Join(l.dir, "git")
	bare := filepath.Join(root, "config.git")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	if _, err := run("git", "init", "-q", "--bare", "-b", "main", bare); err != nil {
		return err
	}
	if _, err := run("git", "-C", bare, "config", "http.receivepack", "true"); err != nil {
		return err
	}
	g := &GitServer{Bare: bare, hits: map[string]int{}}
	g.mode.Store("")
	backend, err := gitExecPath("git-http-backend")
	if err != nil {
		return err
	}
	g.backend = backend
	h := l.net.hosts["git"]
	if _, err := l.startProc("git-daemon", h, nil, "git", "daemon", "--reuseaddr", "--export-all",
		"--informative-errors", "--enable=receive-pack", "--base-path="+root, "--listen="+GitIP, "--port=9418", root); err != nil {
		return err
	}
	var ln net.Listener
	if err := inNS(h.NS, func() error {
		var err error
		ln, err = net.Listen("tcp", GitIP+":80")
		return err
	}); err != nil {
		return fmt.Errorf("git http listener: %w", err)
	}
	cgiH := &cgi.Handler{Path: backend, Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}}
	g.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mode := g.mode.Load().(string)
			g.mu.Lock()
			if mode == "" {
				g.hits["200"]++
			} else {
				g.hits[mode]++
			}
			g.mu.Unlock()
			switch mode {
			case "":
				cgiH.ServeHTTP(w, r)
			case "404":
				http.Error(w, "Not Found", http.StatusNotFound)
			case "500":
				http.Error(w, "Internal Server Error", http.StatusInternalServerError)
			case "403":
				http.Error(w, "Forbidden", http.StatusForbidden)
			case "401":
				w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
				http.Error(w, "Unauthorized", http.StatusUnauthorized)
			}
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go g.srv.Serve(ln)
	l.git = g
	l.cleanup(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		return g.srv.Shutdown(ctx)
	})
	// Both front doors answer before the lab goes on.
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err1 := l.hostTCP(h.NS, GitIP+":9418")
		_, err2 := l.hostTCP(h.NS, GitIP+":80")
		if err1 == nil && err2 == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("git server did not come up: git daemon: %v; http: %v", err1, err2)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// SetHTTPFailure makes the HTTP front door answer every request with
// status ("404", "500", "403", "401"), or heals it with "".
func (g *GitServer) SetHTTPFailure(status string) { g.mode.Store(status) }

// Hits returns how many HTTP requests were answered with status.
func (g *GitServer) Hits(status string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.hits[status]
}

func gitExecPath(tool string) (string, error) {
	out, err := run("git", "--exec-path")
	if err != nil {
		return "", err
	}
	p := filepath.Join(trimNL(out), tool)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s not found: %w", tool, err)
	}
	return p, nil
}

func trimNL(s string) string {
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	return s
}

// hostTCP opens (and closes) a TCP connection from inside namespace ns.
func (l *Lab) hostTCP(ns, addr string) (time.Duration, error) {
	start := time.Now()
	var c net.Conn
	err := inNS(ns, func() error {
		var err error
		c, err = net.DialTimeout("tcp", addr, 2*time.Second)
		return err
	})
	if err != nil {
		return 0, err
	}
	c.Close()
	return time.Since(start), nil
}
