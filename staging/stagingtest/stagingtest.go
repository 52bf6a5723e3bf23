// Package stagingtest owns the test fixtures shared by the tests of package
// staging and of `dnsctl verify`/`promote`: DNS nodes (real UDP and TCP
// servers of miekg/dns) on addresses of 127.0.0.0/8, all on one port, the
// way the nodes of a cluster answer on one configured port; and a node's
// status endpoint with its self-probe history (StatusNode). Everything
// stops at the end of the test.
package stagingtest

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/probe"
)

// StartNodes serves hs[i] on addrs[i] (UDP and TCP), every address on the
// same free port, and returns that port. It retries with another port when
// the first address's free port is taken on another address.
func StartNodes(t testing.TB, addrs []string, hs []dns.Handler) int {
	t.Helper()
	if len(addrs) != len(hs) {
		t.Fatalf("StartNodes: %d addresses, %d handlers", len(addrs), len(hs))
	}
	for attempt := 0; attempt < 50; attempt++ {
		port, ok := 0, true
		var servers []*dns.Server
		var closers []func() error
		for i, a := range addrs {
			pc, err := net.ListenPacket("udp", net.JoinHostPort(a, strconv.Itoa(port)))
			if err != nil {
				ok = false
				break
			}
			closers = append(closers, pc.Close)
			port = pc.LocalAddr().(*net.UDPAddr).Port
			l, err := net.Listen("tcp", net.JoinHostPort(a, strconv.Itoa(port)))
			if err != nil {
				ok = false
				break
			}
			closers = append(closers, l.Close)
			servers = append(servers, &dns.Server{PacketConn: pc, Handler: hs[i]}, &dns.Server{Listener: l, Handler: hs[i]})
		}
		if !ok {
			for _, c := range closers {
				c()
			}
			continue
		}
		for _, s := range servers {
			started := make(chan struct{})
			s.NotifyStartedFunc = func() { close(started) }
			go s.ActivateAndServe()
			<-started
			t.Cleanup(func() { s.Shutdown() })
		}
		return port
	}
	t.Fatal("StartNodes: no port free on every address")
	return 0
}

// StatusNode is the status endpoint of a node with its self-probe history:
// a real probe.Watch of the node's DNS server and GET /status over HTTP,
// the parts of a resolverd node `dnsctl promote --after-bake` reads.
type StatusNode struct {
	t                   testing.TB
	host, cluster, node string
	interval, maxGap    time.Duration
	target              probe.Target
	Addr                netip.AddrPort // stays the same across Stop and Start

	mu     sync.Mutex
	cancel context.CancelFunc
	srv    *http.Server
	done   chan struct{}
}

// StartStatus starts probing target every interval and serving the history
// at http://<host>:<free port>/status as node cluster/node.
func StartStatus(t testing.TB, host, cluster, node string, interval, maxGap time.Duration, target probe.Target) *StatusNode {
	t.Helper()
	s := &StatusNode{t: t, host: host, cluster: cluster, node: node, interval: interval, maxGap: maxGap, target: target}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Start (re)starts the node's probing and status endpoint with an empty
// history, as a restarted process would.
func (s *StatusNode) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	addr := net.JoinHostPort(s.host, "0")
	if s.Addr.IsValid() {
		addr = s.Addr.String()
	}
	var ln net.Listener
	var err error
	for try := 0; try < 50; try++ { // the port of a stopped server may linger briefly
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatalf("StatusNode: %v", err)
	}
	s.Addr = ln.Addr().(*net.TCPAddr).AddrPort()
	rec := probe.NewRecorder(s.interval, s.maxGap, time.Now())
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan struct{})
	go func() {
		defer close(s.done)
		probe.Watch(ctx, rec, s.interval, time.Second, s.target, nil)
	}()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		h := rec.History()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"cluster": s.cluster, "node": s.node, "selfProbes": &h})
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go s.srv.Serve(ln)
}

// Stop stops probing and serving, as a node that is down.
func (s *StatusNode) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv == nil {
		return
	}
	s.cancel()
	<-s.done
	s.srv.Close()
	s.srv = nil
}
