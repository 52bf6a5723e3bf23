package fastpath

import (
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin/metrics"
)

// Every socket of a node is opened with SO_REUSEPORT (CoreDNS's and the fast
// path's, the metrics, health and ready listeners): a second resolverd
// started on the same address by mistake joins the kernel's group, takes a
// share of every kind of traffic and answers it with whatever it has (no
// revision yet: SERVFAIL), and neither process notices. A node therefore
// checks, when it starts (not when CoreDNS reloads it: caddy's
// OnFirstStartup), that nobody serves its addresses yet, and refuses to
// start otherwise, naming the address: before any of its own sockets is
// bound, so the process already serving is not touched.

// checkAddrsFree fails when another process already listens on one of the
// block's DNS addresses (UDP or TCP) or its metrics address.
func checkAddrsFree(dc *dnsserver.Config) error {
	if dc.Port == "0" {
		return nil
	}
	addrs, err := listenAddrs(dc)
	if err != nil {
		return err
	}
	for _, addr := range addrs {
		if err := probe("udp", addr); err != nil {
			return err
		}
		if err := probe("tcp", addr); err != nil {
			return err
		}
	}
	if m, ok := dc.Handler("prometheus").(*metrics.Metrics); ok && m.Addr != "" {
		if err := probe("tcp", m.Addr); err != nil {
			return fmt.Errorf("prometheus: %w", err)
		}
	}
	return nil
}

// probe binds addr without SO_REUSEPORT and lets it go: the kernel refuses
// (EADDRINUSE) when any socket is bound there, shared or not. UDP binds with
// no option at all (with SO_REUSEADDR Linux lets two UDP sockets share a
// port); TCP with Go's default SO_REUSEADDR, which still fails on a
// listening socket but not on connections in TIME_WAIT from an earlier run.
func probe(network, addr string) error {
	var err error
	switch network {
	case "udp":
		var c net.PacketConn
		if c, err = net.ListenPacket("udp", addr); err == nil {
			c.Close()
		}
	default:
		var l net.Listener
		if l, err = net.Listen("tcp", addr); err == nil {
			l.Close()
		}
	}
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%s %s is already served by another process (another resolverd or DNS server on this address?): refusing to share it", network, addr)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", network, addr, err)
	}
	return nil
}
