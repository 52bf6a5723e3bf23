package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/internal/dnsname"
)

// NetTransport talks to real servers. Each exchange opens a fresh socket
// (UDP: a kernel-chosen random source port per query) connected to the
// server, so only that server's datagrams reach it; datagrams whose id or
// question do not match are dropped and reading goes on until the deadline.
// A Resolver whose Config.Transport is nil uses it for TCP only and sends
// UDP through a pool of reused sockets, each connected to one server (see
// udpPool);
// setting Config.Transport to NetTransport{} gives every UDP query a socket
// of its own.
type NetTransport struct{}

// maxStrayReplies bounds how many non-matching datagrams one UDP exchange
// reads before giving up.
const maxStrayReplies = 16

// DestinationCheck, when not nil, vets every server a message is about to
// be sent to (the UDP pool and NetTransport alike) and refuses it with its
// error. The resolver leaves it nil. A test binary that runs resolvers sets
// it to TestNetsOnly from an init function of a _test.go file, so that no
// test reaches the real internet, not even through the built-in root hints;
// internal/layers checks that every such package does.
var DestinationCheck func(server netip.AddrPort) error

// testNet is the benchmarking range (RFC 2544) the multi-host tests use.
var testNet = netip.MustParsePrefix("198.18.0.0/15")

// ErrTestDestination: a test tried to reach a real server (for instance the
// built-in IANA root hints).
var ErrTestDestination = errors.New("tests may only send to 127.0.0.0/8, ::1 and 198.18.0.0/15")

// TestNetsOnly is the DestinationCheck of test binaries: loopback and
// 198.18.0.0/15 only.
func TestNetsOnly(server netip.AddrPort) error {
	if a := server.Addr().Unmap(); !a.IsLoopback() && !testNet.Contains(a) {
		return ErrTestDestination
	}
	return nil
}

// Exchange implements Transport.
func (NetTransport) Exchange(ctx context.Context, network string, server netip.AddrPort, m *dns.Msg) (*dns.Msg, error) {
	if err := checkDestination(network, server); err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
	}
	deadline, _ := ctx.Deadline()
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, server.String())
	if err != nil {
		return nil, fmt.Errorf("dial %s %s: %w", network, server, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, fmt.Errorf("%s %s: %w", network, server, err)
	}
	co := &dns.Conn{Conn: conn, UDPSize: 4096}
	if err := co.WriteMsg(m); err != nil {
		return nil, fmt.Errorf("write %s %s: %w", network, server, err)
	}
	for i := 0; i < maxStrayReplies; i++ {
		r, err := co.ReadMsg()
		if err != nil {
			var ne net.Error
			if network == "udp" && !errors.As(err, &ne) && ctx.Err() == nil {
				continue // garbage datagram: keep waiting for the real reply
			}
			if ctx.Err() != nil {
				return nil, fmt.Errorf("read %s %s: %w", network, server, ctx.Err())
			}
			return nil, fmt.Errorf("read %s %s: %w", network, server, err)
		}
		if r.Id != m.Id || !sameQuestion(m, r) {
			if network == "tcp" {
				return nil, fmt.Errorf("%s %s: %w", network, server, errMismatch)
			}
			continue
		}
		return r, nil
	}
	return nil, fmt.Errorf("%s %s: %w", network, server, errMismatch)
}

// checkDestination applies DestinationCheck.
func checkDestination(network string, server netip.AddrPort) error {
	if DestinationCheck == nil {
		return nil
	}
	if err := DestinationCheck(server); err != nil {
		return fmt.Errorf("%s %s: %w", network, server, err)
	}
	return nil
}

func sameQuestion(q, r *dns.Msg) bool {
	if len(q.Question) != 1 || len(r.Question) != 1 {
		return false
	}
	a, b := q.Question[0], r.Question[0]
	return a.Qtype == b.Qtype && a.Qclass == b.Qclass && dnsname.EqualFold(a.Name, b.Name)
}
