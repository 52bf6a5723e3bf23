package fastpath

import (
	"context"
	"encoding/binary"
	"net"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/fastpath"
	"github.com/gitops-dns/resolverd/node"
)

// serveTCP runs the chain for one query of a TCP connection, as CoreDNS's
// own TCP server would (the same context values, dnsserver.Server.ServeDNS)
// after the front door's checks; queries of one connection run
// concurrently (fastpath.TCPServer).
func (l *listener) serveTCP(c *fastpath.TCPConn, pkt []byte) {
	srv := l.chain.Load()
	if srv == nil {
		return
	}
	dh := wireHeader(pkt)
	snap := l.fp.Source()
	w := &tcpWriter{c: c, snap: snap, ra: mayRecurse(snap, c.Client())}
	switch acceptHeader(dh) {
	case dns.MsgIgnore:
		return
	case dns.MsgReject:
		w.WriteMsg(rejectMsg(dh, nil, dns.RcodeFormatError))
		return
	case dns.MsgRejectNotImplemented:
		w.WriteMsg(rejectMsg(dh, nil, dns.RcodeNotImplemented))
		return
	}
	r := new(dns.Msg)
	if err := r.Unpack(pkt); err != nil {
		w.WriteMsg(rejectMsg(dh, r.Question, dns.RcodeFormatError))
		return
	}
	if resp := checkQuery(r); resp != nil {
		w.WriteMsg(resp)
		return
	}
	ctx := context.WithValue(context.Background(), dnsserver.Key{}, srv)
	ctx = context.WithValue(ctx, dnsserver.LoopKey{}, 0)
	srv.ServeDNS(ctx, w, r)
}

// wireHeader reads the header of pkt (at least 12 octets).
func wireHeader(pkt []byte) dns.Header {
	return dns.Header{
		Id:      binary.BigEndian.Uint16(pkt),
		Bits:    binary.BigEndian.Uint16(pkt[2:]),
		Qdcount: binary.BigEndian.Uint16(pkt[4:]),
		Ancount: binary.BigEndian.Uint16(pkt[6:]),
		Nscount: binary.BigEndian.Uint16(pkt[8:]),
		Arcount: binary.BigEndian.Uint16(pkt[10:]),
	}
}

// tcpWriter is the chain's ResponseWriter for one TCP query.
type tcpWriter struct {
	c    *fastpath.TCPConn
	snap *node.Snapshot
	ra   bool
}

func (w *tcpWriter) LocalAddr() net.Addr  { return w.c.LocalAddr() }
func (w *tcpWriter) RemoteAddr() net.Addr { return w.c.RemoteAddr() }
func (w *tcpWriter) Close() error         { return nil }
func (w *tcpWriter) TsigStatus() error    { return nil }
func (w *tcpWriter) TsigTimersOnly(bool)  {}
func (w *tcpWriter) Hijack()              {}

func (w *tcpWriter) WriteMsg(m *dns.Msg) error {
	explainServfail(m, w.snap)
	b, err := m.Pack()
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

func (w *tcpWriter) Write(b []byte) (int, error) {
	setRA(b, w.ra)
	if err := w.c.Write(b); err != nil {
		return 0, err
	}
	return len(b), nil
}
