// Package stagingtest owns the test fixtures shared by the tests of package
// staging and of `dnsctl verify`/`promote`: DNS nodes (real UDP and TCP
// servers of miekg/dns) on addresses of 127.0.0.0/8, all on one port, the
// way the nodes of a cluster answer on one configured port. Everything
// stops at the end of the test.
package stagingtest

import (
	"net"
	"strconv"
	"testing"

	"github.com/miekg/dns"
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
