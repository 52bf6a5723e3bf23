// Package probe is the one definition of asking a node a question and
// judging its answer: the query a probe sends (Query), the exchange with a
// deadline and the TCP retry of a truncated answer (Exchange), the match of
// a response against a probe of probes.yaml (Match), the CHAOS name a node
// answers with the revision it serves (VersionName, Version), and the text
// reports show of a response. A node runs the repo's probes on itself after
// applying a revision (node/syncer) and `dnsctl verify` runs them on every
// node of a staging cluster (staging): both go through this package, so a
// probe judged on one side is judged the same on the other (ARCHITECTURE.md,
// "Probes").
package probe

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/cluster/model"
)

// VersionName is the CHAOS TXT name a node answers with the full commit id
// of the revision it serves (DESIGN.md "Interfaces v1").
const VersionName = "version.config."

// UDPSize is the EDNS buffer size a probe advertises: 1232 bytes, the size
// DNS Flag Day 2020 settled on to avoid IP fragmentation, which is what
// stub resolvers send today. A probe asks as a client does.
const UDPSize = 1232

// Query is the question a probe sends: recursion desired (RFC 1035 4.1.1;
// a client asks for the whole answer, internal or not) and an EDNS OPT
// record of UDPSize (RFC 6891), as the stub resolvers of the company's
// hosts ask. Nodes and staging send the same message, so an answer that
// only fits with EDNS is judged alike on both (the nodes' gate probes used
// to ask without EDNS).
func Query(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = true
	m.SetEdns0(UDPSize, false)
	return m
}

// Exchange sends m to addr over UDP and, when the answer is truncated, again
// over TCP (RFC 7766 5), within timeout and ctx.
func Exchange(ctx context.Context, m *dns.Msg, addr string, timeout time.Duration) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := &dns.Client{Net: "udp", Timeout: timeout}
	r, _, err := c.ExchangeContext(ctx, m, addr)
	if err == nil && r.Truncated {
		c.Net = "tcp"
		r, _, err = c.ExchangeContext(ctx, m, addr)
	}
	return r, err
}

// Run asks addr the probe's question once and judges the response with
// Match. It returns the response (nil when none came) and nil, or why the
// probe failed: the transport error, or Match's.
func Run(ctx context.Context, addr string, p model.Probe, timeout time.Duration) (*dns.Msg, error) {
	r, err := Exchange(ctx, Query(p.Query, p.Type), addr, timeout)
	if err != nil {
		return nil, err
	}
	return r, Match(p, r)
}

// How RunRetrying retries after a transport error: a node probing itself
// right after applying a revision may still be starting to listen.
const (
	retryEvery = 100 * time.Millisecond
	maxTries   = 50
)

// RunRetrying is Run for a node probing itself: transport errors are retried
// (every 100 ms, at most 50 tries) until timeout, each try bounded by a
// second; a response, matching or not, ends it.
func RunRetrying(ctx context.Context, addr string, p model.Probe, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var lastErr error
	for try := 0; try < maxTries; try++ {
		r, err := Exchange(ctx, Query(p.Query, p.Type), addr, time.Second)
		if err == nil {
			return Match(p, r)
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("no answer: %w", lastErr)
		case <-time.After(retryEvery):
		}
	}
	return fmt.Errorf("no answer: %w", lastErr)
}

// Version asks addr which revision it serves (CH TXT VersionName, no
// recursion) and returns the TXT text, "" when the answer has none.
func Version(ctx context.Context, addr string, timeout time.Duration) (string, error) {
	q := new(dns.Msg)
	q.SetQuestion(VersionName, dns.TypeTXT)
	q.Question[0].Qclass = dns.ClassCHAOS
	q.RecursionDesired = false
	r, err := Exchange(ctx, q, addr, timeout)
	if err != nil {
		return "", fmt.Errorf("no answer to CH TXT %s: %w", VersionName, err)
	}
	if r.Rcode != dns.RcodeSuccess {
		return "", fmt.Errorf("CH TXT %s: %s", VersionName, dns.RcodeToString[r.Rcode])
	}
	for _, rr := range r.Answer {
		if t, ok := rr.(*dns.TXT); ok && len(t.Txt) > 0 {
			return strings.Join(t.Txt, ""), nil
		}
	}
	return "", nil
}
