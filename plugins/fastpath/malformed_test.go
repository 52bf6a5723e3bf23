package fastpath

import (
	"bytes"
	"encoding/hex"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestMalformedLikeCoreDNS: datagrams CoreDNS's own UDP server (a miekg
// dns.Server with the default accept function) refuses before the chain
// get the same bytes back through the fast path's slow path, with two
// differences: RA says the client may recurse (it may), and a NOTIFY is
// NOTIMP (miekg lets it through to be answered as a query).
func TestMalformedLikeCoreDNS(t *testing.T) {
	e := newE2E(t)
	// What CoreDNS's socket would answer: a plain miekg server; its handler
	// is never reached by these datagrams.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reached := make(chan struct{}, 16)
	ref := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) { reached <- struct{}{} })}
	started := make(chan struct{})
	ref.NotifyStartedFunc = func() { close(started) }
	go ref.ActivateAndServe()
	<-started
	t.Cleanup(func() { ref.Shutdown() })

	query := func(bits uint16, qd, an, ns, ar uint16, rest string) []byte {
		h := []byte{0x12, 0x34, byte(bits >> 8), byte(bits), byte(qd >> 8), byte(qd), byte(an >> 8), byte(an), byte(ns >> 8), byte(ns), byte(ar >> 8), byte(ar)}
		b, _ := hex.DecodeString(rest)
		return append(h, b...)
	}
	const q = "0377777704636f727008696e7465726e616c0000010001" // www.corp.internal. A IN
	tests := []struct {
		name string
		pkt  []byte
		want string // hex; "" = what CoreDNS's server answers, with RA
	}{
		{"no question, RD CD AD", query(0x0130, 0, 0, 0, 0, ""), ""},
		{"two questions, RD", query(0x0100, 2, 0, 0, 0, q+q), ""},
		{"opcode STATUS, RD", query(0x1100, 1, 0, 0, 0, q), ""},
		{"opcode UPDATE", query(0x2800, 1, 0, 0, 0, q), ""},
		{"three additional records", query(0x0100, 1, 0, 0, 3, q), ""},
		{"question cut short, RD", query(0x0100, 1, 0, 0, 0, q[:20]), ""},
		{"additional record cut short, RD CD", query(0x0110, 1, 0, 0, 1, q+"000029"), ""},
		{"question cut short, TC AA RA", query(0x0680, 1, 0, 0, 0, q[:30]), ""},
		{"NOTIFY cut short, AA", query(0x2400, 1, 0, 0, 1, q+"00"), "1234a0840000000000000000"},
		{"opcode 3, AA RD", query(0x1d00, 1, 0, 0, 0, q), ""},
		{"a response (ignored)", query(0x8100, 1, 0, 0, 0, q), ""},
	}
	// An answer that must come gets as long as a loaded machine needs (the
	// clients' 3 s elsewhere); silence is waited for half a second.
	read := func(c net.Conn, answered bool) []byte {
		wait := 500 * time.Millisecond
		if answered {
			wait = 3 * time.Second
		}
		c.SetReadDeadline(time.Now().Add(wait))
		buf := make([]byte, 4096)
		n, err := c.Read(buf)
		if err != nil {
			return nil // nothing came back
		}
		return buf[:n]
	}
	for _, tc := range tests {
		ignored := tc.pkt[2]&0x80 != 0 // a response: neither server answers it
		var got [2][]byte
		for i, addr := range []string{e.addr, pc.LocalAddr().String()} {
			c, err := net.Dial("udp", addr)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Write(tc.pkt); err != nil {
				t.Fatal(err)
			}
			got[i] = read(c, !ignored)
			c.Close()
		}
		if (got[1] == nil) != ignored {
			t.Fatalf("%s: CoreDNS's server answered %x", tc.name, got[1])
		}
		want := got[1]
		if want != nil {
			want[3] |= 0x80 // RA: 127.0.0.1 may recurse
		}
		if tc.want != "" {
			want, _ = hex.DecodeString(tc.want)
		}
		if !bytes.Equal(got[0], want) {
			t.Errorf("%s: fast path answers %x, want %x (CoreDNS's server: %x)", tc.name, got[0], want, got[1])
		}
	}
	select {
	case <-reached:
		t.Fatal("a malformed datagram reached the reference server's handler")
	default:
	}
}
