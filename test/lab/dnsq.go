package lab

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Exchange sends one DNS query from inside namespace ns to server (ip or
// ip:port) over network ("udp" or "tcp") with a deadline.
func Exchange(ns, network, server string, m *dns.Msg, timeout time.Duration) (*dns.Msg, time.Duration, error) {
	if _, _, err := net.SplitHostPort(server); err != nil {
		server = net.JoinHostPort(server, "53")
	}
	var c net.Conn
	if err := inNS(ns, func() error {
		var err error
		c, err = net.DialTimeout(network, server, timeout)
		return err
	}); err != nil {
		return nil, 0, err
	}
	defer c.Close()
	start := time.Now()
	co := &dns.Conn{Conn: c}
	c.SetDeadline(start.Add(timeout))
	if err := co.WriteMsg(m); err != nil {
		return nil, 0, fmt.Errorf("send to %s: %w", server, err)
	}
	for {
		r, err := co.ReadMsg()
		if err != nil {
			return nil, time.Since(start), fmt.Errorf("answer from %s: %w", server, err)
		}
		if r.Id != m.Id {
			continue
		}
		return r, time.Since(start), nil
	}
}

// Query asks server for name/qtype (class IN, RD set) from namespace ns.
func Query(ns, server, name string, qtype uint16, timeout time.Duration) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.SetEdns0(1232, false)
	r, _, err := Exchange(ns, "udp", server, m, timeout)
	return r, err
}

// ServedRevision asks server `CH TXT version.config.` from namespace ns.
func ServedRevision(ns, server string, timeout time.Duration) (string, error) {
	m := new(dns.Msg)
	m.SetQuestion("version.config.", dns.TypeTXT)
	m.Question[0].Qclass = dns.ClassCHAOS
	r, _, err := Exchange(ns, "udp", server, m, timeout)
	if err != nil {
		return "", err
	}
	if r.Rcode != dns.RcodeSuccess {
		return "", fmt.Errorf("version.config.: %s", dns.RcodeToString[r.Rcode])
	}
	for _, rr := range r.Answer {
		if t, ok := rr.(*dns.TXT); ok && len(t.Txt) > 0 {
			return strings.Join(t.Txt, ""), nil
		}
	}
	return "", fmt.Errorf("version.config.: no TXT in answer")
}

// Addrs returns the A and AAAA addresses of an answer section, in order.
func Addrs(r *dns.Msg) []string {
	if r == nil {
		return nil
	}
	var out []string
	for _, rr := range r.Answer {
		switch v := rr.(type) {
		case *dns.A:
			out = append(out, v.A.String())
		case *dns.AAAA:
			out = append(out, v.AAAA.String())
		}
	}
	return out
}

// HTTPGet fetches url from inside namespace ns.
func HTTPGet(ns, url string, timeout time.Duration) (int, string, error) {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var c net.Conn
			err := inNS(ns, func() error {
				var err error
				c, err = net.DialTimeout(network, addr, timeout)
				return err
			})
			return c, err
		},
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: timeout}
	resp, err := cl.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	return resp.StatusCode, string(b), err
}
