package resolver

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestNetTransportIgnoresSpoofedDatagrams: over real UDP, datagrams with
// the wrong id, the wrong question or garbage are dropped and the real
// reply that follows is returned.
func TestNetTransportIgnoresSpoofedDatagrams(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go func() {
		buf := make([]byte, 4096)
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		q := new(dns.Msg)
		if q.Unpack(buf[:n]) != nil {
			return
		}
		send := func(m *dns.Msg) {
			b, _ := m.Pack()
			_, _ = pc.WriteTo(b, from)
		}
		bad := new(dns.Msg)
		bad.SetReply(q)
		bad.Id = q.Id + 1
		bad.Answer = mustRRs(t, ".", q.Question[0].Name+" 60 A 6.6.6.6")
		send(bad) // wrong id
		other := new(dns.Msg)
		other.SetQuestion("evil.example.", dns.TypeA)
		other.Id, other.Response = q.Id, true
		send(other)                              // wrong question
		_, _ = pc.WriteTo([]byte{1, 2, 3}, from) // garbage
		good := new(dns.Msg)
		good.SetReply(q)
		good.Answer = mustRRs(t, ".", q.Question[0].Name+" 60 A 192.0.2.1")
		send(good)
	}()
	m := new(dns.Msg)
	m.SetQuestion("www.example.com.", dns.TypeA)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := NetTransport{}.Exchange(ctx, "udp", netip.MustParseAddrPort(pc.LocalAddr().String()), m)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "192.0.2.1" {
		t.Fatalf("got %v", r)
	}
}

// TestNetTransportDeadline: a server that never answers costs the
// attempt's deadline, no more.
func TestNetTransportDeadline(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	m := new(dns.Msg)
	m.SetQuestion("www.example.com.", dns.TypeA)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = NetTransport{}.Exchange(ctx, "udp", netip.MustParseAddrPort(pc.LocalAddr().String()), m)
	if !isTimeout(err) && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want a timeout", err)
	}
}
