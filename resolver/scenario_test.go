package resolver

// The scenario suite: scripted authoritative servers that behave as real
// ones in the wild do (no AA bit, SERVFAIL, REFUSED, FORMERR to EDNS,
// truncation, silence, case-mangled questions, extra and misplaced
// records), a sequence of client questions with their expected answers,
// and time passing on the fake clock, all in a small text format read
// from testdata/scenarios/*.scn and run against the real resolver through
// its Transport seam (fakeNet: messages go through the wire format, no
// packet leaves the process, so servers may use any address).
//
// The format, one directive a line ('#' starts a comment):
//
//	scenario TITLE          starts a scenario (a file holds several)
//	defect NAME             marks it as a regression test of issue 15's defect NAME
//	config KEY [VALUE...]   resolver setting (see scenarioConfig)
//	root ADDR...            root server addresses (default 198.18.0.1)
//	server ADDR ORIGIN [OPT...]
//	                        an authority at ADDR for zone ORIGIN; the record
//	                        lines that follow (relative to ORIGIN) are its
//	                        zone; a SOA is added when none is given. OPT:
//	                        noaa, ra, rd, upper (question echoed upper
//	                        case), tc (UDP replies truncated), silent,
//	                        rcode=NAME (every reply that rcode, empty),
//	                        formerr-edns (FORMERR without OPT to a query
//	                        with EDNS), ent-nxdomain (empty non-terminals
//	                        are NXDOMAIN), auth-ns (answers carry the
//	                        zone's NS set in authority and their in-zone
//	                        addresses in additional), steps=N-M (this definition holds
//	                        for client steps N to M; the first definition of
//	                        an address that holds wins)
//	reply QNAME QTYPE [OPT...]
//	                        a canned reply of the server above for QNAME
//	                        (or *) and QTYPE (or *); records that follow go
//	                        to the answer section until "section
//	                        authority|additional". OPT: aa, rd, ra,
//	                        rcode=NAME, upper, tc (truncated over UDP and
//	                        TCP alike), noquestion (no question section),
//	                        silent (the question is dropped)
//	query NAME TYPE         a client question (a step)
//	expect RCODE [OPT...]   the expected reply of the last question; the
//	                        record lines that follow are its whole answer
//	                        section (compared as a set, TTLs aside). OPT:
//	                        soa (a SOA in authority), soattl=N (one with
//	                        that TTL), ede=N (an Extended DNS Error with
//	                        that code)
//	sent ADDR none|some [NAME [TYPE]]
//	                        whether the last question sent anything (that
//	                        question) to ADDR (ADDR * : to anyone)
//	time DURATION           the fake clock moves on
//	include FILE            the lines of FILE (same folder) in its place

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/internal/dnsname"
)

type scenario struct {
	file, title string
	line        int
	defect      string
	config      [][]string
	roots       []netip.Addr
	servers     []*scServer
	steps       []*scStep
}

type scServer struct {
	addr     netip.Addr
	origin   string
	rrs      []dns.RR
	opts     map[string]string
	from, to int // client steps this definition holds for; 0: always
	replies  []*scReply
}

type scReply struct {
	qname string // lower case or "*"
	qtype uint16 // 0: any
	opts  map[string]string
	sec   [3][]dns.RR // answer, authority, additional
}

type scStep struct {
	line  int
	query dns.Question
	wait  time.Duration
	// expectations of a query step
	expect bool
	rcode  int
	answer []string
	soa    bool
	soaTTL int // -1: not checked
	ede    int // -1: not checked
	sent   []scSent
}

type scSent struct {
	addr  string // "*": anyone
	some  bool
	name  string // "": any question
	qtype uint16 // 0: any
}

var scKeywords = []string{"scenario", "defect", "config", "root", "server", "reply", "section", "query", "expect", "sent", "time"}

// parseScenarios reads the scenarios of one file.
func parseScenarios(path string) ([]*scenario, error) {
	lines, err := scenarioLines(path, 0)
	if err != nil {
		return nil, err
	}
	var (
		out     []*scenario
		sc      *scenario
		srv     *scServer
		rep     *scReply
		section int
		step    *scStep
		records string // where record lines go: "zone", "reply", "expect", ""
	)
	fail := func(n int, format string, a ...any) error {
		return fmt.Errorf("%s:%d: %s", path, n, fmt.Sprintf(format, a...))
	}
	for i, line := range lines {
		n := i + 1
		if i := strings.Index(line, "#"); i >= 0 && !strings.Contains(line[:i], "\"") {
			line = line[:i]
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		kw := fields[0]
		if !slices.Contains(scKeywords, kw) {
			origin := "."
			if records == "zone" {
				origin = srv.origin
			}
			rr, err := dns.NewRR("$ORIGIN " + origin + "\n$TTL 300\n" + strings.TrimSpace(line))
			if err != nil || rr == nil {
				return nil, fail(n, "bad record %q: %v", line, err)
			}
			switch records {
			case "zone":
				srv.rrs = append(srv.rrs, rr)
			case "reply":
				rep.sec[section] = append(rep.sec[section], rr)
			case "expect":
				step.answer = append(step.answer, rrLine(rr))
			default:
				return nil, fail(n, "record outside a server, reply or expect: %q", line)
			}
			continue
		}
		if kw != "scenario" && sc == nil {
			return nil, fail(n, "%s before the first scenario", kw)
		}
		args := fields[1:]
		switch kw {
		case "scenario":
			sc = &scenario{file: filepath.Base(path), title: strings.Join(args, " "), line: n}
			out = append(out, sc)
			srv, rep, step, records = nil, nil, nil, ""
		case "defect":
			sc.defect = strings.Join(args, " ")
		case "config":
			if len(args) == 0 {
				return nil, fail(n, "config needs a key")
			}
			sc.config = append(sc.config, args)
		case "root":
			for _, a := range args {
				ad, err := netip.ParseAddr(a)
				if err != nil {
					return nil, fail(n, "%v", err)
				}
				sc.roots = append(sc.roots, ad)
			}
		case "server":
			if len(args) < 2 {
				return nil, fail(n, "server ADDR ORIGIN [OPT...]")
			}
			ad, err := netip.ParseAddr(args[0])
			if err != nil {
				return nil, fail(n, "%v", err)
			}
			srv = &scServer{addr: ad, origin: lower(args[1]), opts: parseOpts(args[2:])}
			if r, ok := srv.opts["steps"]; ok {
				a, b, _ := strings.Cut(r, "-")
				srv.from, _ = strconv.Atoi(a)
				srv.to, _ = strconv.Atoi(b)
				if srv.from <= 0 || srv.to < srv.from {
					return nil, fail(n, "bad steps=%s", r)
				}
			}
			for o := range srv.opts {
				if !slices.Contains([]string{"noaa", "ra", "rd", "upper", "tc", "silent", "rcode", "formerr-edns", "ent-nxdomain", "auth-ns", "steps"}, o) {
					return nil, fail(n, "unknown server option %q", o)
				}
			}
			sc.servers = append(sc.servers, srv)
			records = "zone"
		case "reply":
			if srv == nil || len(args) < 2 {
				return nil, fail(n, "reply QNAME QTYPE [OPT...] after a server")
			}
			rep = &scReply{qname: lower(args[0]), opts: parseOpts(args[2:])}
			if args[0] == "*" {
				rep.qname = "*"
			}
			if args[1] != "*" {
				t, ok := dns.StringToType[strings.ToUpper(args[1])]
				if !ok {
					return nil, fail(n, "unknown type %q", args[1])
				}
				rep.qtype = t
			}
			srv.replies = append(srv.replies, rep)
			records, section = "reply", 0
		case "section":
			if records != "reply" || len(args) != 1 {
				return nil, fail(n, "section answer|authority|additional inside a reply")
			}
			i := slices.Index([]string{"answer", "authority", "additional"}, args[0])
			if i < 0 {
				return nil, fail(n, "unknown section %q", args[0])
			}
			section = i
		case "query":
			if len(args) != 2 {
				return nil, fail(n, "query NAME TYPE")
			}
			t, ok := dns.StringToType[strings.ToUpper(args[1])]
			if !ok {
				return nil, fail(n, "unknown type %q", args[1])
			}
			step = &scStep{line: n, query: dns.Question{Name: dns.Fqdn(args[0]), Qtype: t, Qclass: dns.ClassINET}, ede: -1, soaTTL: -1}
			sc.steps = append(sc.steps, step)
			records = ""
		case "expect":
			if step == nil || step.query.Name == "" || step.expect || len(args) < 1 {
				return nil, fail(n, "expect RCODE [OPT...] after a query")
			}
			rc, ok := dns.StringToRcode[strings.ToUpper(args[0])]
			if !ok {
				return nil, fail(n, "unknown rcode %q", args[0])
			}
			step.expect, step.rcode = true, rc
			opts := parseOpts(args[1:])
			_, step.soa = opts["soa"]
			if v, ok := opts["ede"]; ok {
				step.ede, _ = strconv.Atoi(v)
			}
			if v, ok := opts["soattl"]; ok {
				step.soa = true
				step.soaTTL, _ = strconv.Atoi(v)
			}
			records = "expect"
		case "sent":
			if step == nil || step.query.Name == "" || len(args) < 2 || len(args) > 4 || (args[1] != "none" && args[1] != "some") {
				return nil, fail(n, "sent ADDR none|some [NAME [TYPE]] after a query")
			}
			c := scSent{addr: args[0], some: args[1] == "some"}
			if len(args) > 2 {
				c.name = lower(args[2])
			}
			if len(args) > 3 {
				c.qtype = dns.StringToType[strings.ToUpper(args[3])]
			}
			step.sent = append(step.sent, c)
		case "time":
			d, err := time.ParseDuration(strings.Join(args, ""))
			if err != nil {
				return nil, fail(n, "%v", err)
			}
			sc.steps = append(sc.steps, &scStep{line: n, wait: d})
			records = ""
		}
	}
	for _, sc := range out {
		for _, st := range sc.steps {
			if st.query.Name != "" && !st.expect {
				return nil, fmt.Errorf("%s:%d: query without expect", path, st.line)
			}
		}
	}
	return out, nil
}

// scenarioLines reads a scenario file with its "include FILE" lines
// replaced by that file (of the same folder). Line numbers after an
// include count its lines.
func scenarioLines(path string, depth int) ([]string, error) {
	if depth > 4 {
		return nil, fmt.Errorf("%s: includes nested too deep", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) == 2 && fields[0] == "include" {
			inc, err := scenarioLines(filepath.Join(filepath.Dir(path), fields[1]), depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, inc...)
			continue
		}
		out = append(out, s.Text())
	}
	return out, s.Err()
}

func parseOpts(args []string) map[string]string {
	m := map[string]string{}
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		m[k] = v
	}
	return m
}

// rrLine is how answers are compared: lower-case owner, type and rdata.
func rrLine(rr dns.RR) string {
	h := rr.Header()
	return strings.ToLower(fmt.Sprintf("%s %s %s", h.Name, dns.TypeToString[h.Rrtype], strings.TrimPrefix(rr.String(), h.String())))
}

// scNet routes the transport's queries to the scripted servers.
type scNet struct {
	sc   *scenario
	step atomic.Int64 // the client step being run (1-based)
}

func (n *scNet) handle(addr netip.Addr) handler {
	return func(network string, q *dns.Msg) (*dns.Msg, error) {
		step := int(n.step.Load())
		for _, s := range n.sc.servers {
			if s.addr == addr && (s.from == 0 || (step >= s.from && step <= s.to)) {
				return s.answer(network, q)
			}
		}
		return nil, fmt.Errorf("nobody at %s: %w", addr, context.DeadlineExceeded)
	}
}

func rcodeOpt(v string) int {
	rc, ok := dns.StringToRcode[strings.ToUpper(v)]
	if !ok {
		panic("unknown rcode " + v)
	}
	return rc
}

// answer is the server's reply to q (already through the wire format).
func (s *scServer) answer(network string, q *dns.Msg) (*dns.Msg, error) {
	if _, ok := s.opts["silent"]; ok {
		return nil, fmt.Errorf("%s silent: %w", s.addr, context.DeadlineExceeded)
	}
	edns := q.IsEdns0() != nil
	resp := new(dns.Msg)
	resp.SetReply(q)
	resp.RecursionDesired = false
	opts := s.opts
	switch {
	case opts["rcode"] != "":
		resp.Rcode = rcodeOpt(opts["rcode"])
	case hasOpt(opts, "formerr-edns") && edns:
		resp.Rcode = dns.RcodeFormatError
		return resp, nil // no OPT: the server knows no EDNS
	case hasOpt(opts, "tc") && network == "udp":
		resp.Truncated, resp.Authoritative = true, true
	default:
		if rep := s.canned(q.Question[0]); rep != nil {
			if hasOpt(rep.opts, "silent") {
				return nil, fmt.Errorf("%s drops %s: %w", s.addr, q.Question[0].Name, context.DeadlineExceeded)
			}
			resp.Authoritative = hasOpt(rep.opts, "aa")
			if v := rep.opts["rcode"]; v != "" {
				resp.Rcode = rcodeOpt(v)
			}
			resp.Answer = slices.Clone(rep.sec[0])
			resp.Ns = slices.Clone(rep.sec[1])
			resp.Extra = slices.Clone(rep.sec[2])
			resp.Truncated = hasOpt(rep.opts, "tc") // on every transport
			s.flags(resp, rep.opts)
		} else {
			s.authAnswer(resp, q.Question[0])
		}
	}
	s.flags(resp, opts)
	if hasOpt(opts, "noaa") {
		resp.Authoritative = false
	}
	if edns {
		resp.SetEdns0(1232, false)
	}
	return resp, nil
}

func hasOpt(opts map[string]string, k string) bool { _, ok := opts[k]; return ok }

func (s *scServer) flags(resp *dns.Msg, opts map[string]string) {
	if hasOpt(opts, "rd") {
		resp.RecursionDesired = true
	}
	if hasOpt(opts, "ra") {
		resp.RecursionAvailable = true
	}
	if hasOpt(opts, "upper") {
		resp.Question[0].Name = strings.ToUpper(resp.Question[0].Name)
	}
	if hasOpt(opts, "noquestion") {
		resp.Question = nil
	}
}

func (s *scServer) canned(q dns.Question) *scReply {
	for _, r := range s.replies {
		if (r.qname == "*" || dnsname.EqualFold(r.qname, q.Name)) && (r.qtype == 0 || r.qtype == q.Qtype) {
			return r
		}
	}
	return nil
}

// soa is the zone's SOA record (one is made up when the data has none).
func (s *scServer) soa() dns.RR {
	for _, rr := range s.rrs {
		if rr.Header().Rrtype == dns.TypeSOA && dnsname.EqualFold(rr.Header().Name, s.origin) {
			return rr
		}
	}
	rr, _ := dns.NewRR(s.origin + " 300 SOA ns.invalid. hostmaster.invalid. 1 60 60 600 60")
	return rr
}

// authAnswer answers from the zone as an authoritative server does (RFC
// 1034 4.3.2): referral at a zone cut (with whatever addresses of the NS
// names the zone holds as glue; DS is answered by the parent), CNAME and
// DNAME, wildcards (RFC 4592), NODATA and NXDOMAIN with the SOA.
func (s *scServer) authAnswer(resp *dns.Msg, q dns.Question) {
	qn := lower(q.Name)
	if !dnsname.IsSubDomain(s.origin, qn) {
		resp.Rcode = dns.RcodeRefused
		return
	}
	var cut string
	for _, rr := range s.rrs {
		h := rr.Header()
		if h.Rrtype == dns.TypeNS && !dnsname.EqualFold(h.Name, s.origin) && dnsname.IsSubDomain(h.Name, qn) && (cut == "" || dns.CountLabel(h.Name) < dns.CountLabel(cut)) {
			if q.Qtype == dns.TypeDS && dnsname.EqualFold(h.Name, qn) {
				continue // the parent's side of the cut answers DS
			}
			cut = lower(h.Name)
		}
	}
	if cut != "" {
		for _, rr := range s.rrs {
			if ns, ok := rr.(*dns.NS); ok && dnsname.EqualFold(ns.Hdr.Name, cut) {
				resp.Ns = append(resp.Ns, rr)
				for _, g := range s.rrs {
					if t := g.Header().Rrtype; dnsname.EqualFold(g.Header().Name, ns.Ns) && (t == dns.TypeA || t == dns.TypeAAAA) {
						resp.Extra = append(resp.Extra, g)
					}
				}
			}
		}
		return
	}
	resp.Authoritative = true
	name := qn
	for hop := 0; hop < 8; hop++ {
		match, cname, exists := s.lookupName(name, q.Qtype)
		if !exists {
			// RFC 4592: the wildcard at the closest encloser.
			if ce := s.closestEncloser(name); ce != "" {
				match, cname, exists = s.lookupName("*."+ce, q.Qtype)
				match = renamed(match, name)
				if cname != nil {
					cname = renamed([]dns.RR{cname}, name)[0]
				}
			}
		}
		if !exists {
			for _, rr := range s.rrs {
				if d, ok := rr.(*dns.DNAME); ok && !dnsname.EqualFold(d.Hdr.Name, name) && dnsname.IsSubDomain(d.Hdr.Name, name) {
					target := name[:len(name)-len(d.Hdr.Name)] + d.Target
					resp.Answer = append(resp.Answer, rr, &dns.CNAME{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: d.Hdr.Ttl}, Target: target})
					return
				}
			}
		}
		switch {
		case len(match) > 0:
			resp.Answer = append(resp.Answer, match...)
			for _, rr := range match {
				if ns, ok := rr.(*dns.NS); ok { // RFC 1035 3.3.11: additional section processing
					a, _, _ := s.lookupName(lower(ns.Ns), dns.TypeA)
					resp.Extra = append(resp.Extra, a...)
				}
			}
			if hasOpt(s.opts, "auth-ns") {
				for _, rr := range s.rrs {
					if ns, ok := rr.(*dns.NS); ok && dnsname.EqualFold(ns.Hdr.Name, s.origin) {
						resp.Ns = append(resp.Ns, rr)
						a, _, _ := s.lookupName(lower(ns.Ns), dns.TypeA)
						resp.Extra = append(resp.Extra, a...)
					}
				}
			}
			return
		case cname != nil:
			resp.Answer = append(resp.Answer, cname)
			name = lower(cname.(*dns.CNAME).Target)
			if !dnsname.IsSubDomain(s.origin, name) {
				return
			}
			continue
		}
		ent := exists && !s.hasOwner(name)
		if !exists || (ent && hasOpt(s.opts, "ent-nxdomain")) {
			resp.Rcode = dns.RcodeNameError // RFC 6604: the rcode of the chain's end
		}
		resp.Ns = append(resp.Ns, s.soa())
		return
	}
}

// lookupName returns name's records of qtype, its CNAME, and whether name
// exists (records or an empty non-terminal).
func (s *scServer) lookupName(name string, qtype uint16) (match []dns.RR, cname dns.RR, exists bool) {
	for _, rr := range s.rrs {
		h := rr.Header()
		switch {
		case dnsname.EqualFold(h.Name, name):
			exists = true
			if h.Rrtype == qtype {
				match = append(match, rr)
			} else if h.Rrtype == dns.TypeCNAME {
				cname = rr
			}
		case dnsname.IsSubDomain(name, h.Name):
			exists = true
		}
	}
	if dnsname.EqualFold(name, s.origin) && qtype == dns.TypeSOA && len(match) == 0 {
		match = []dns.RR{s.soa()}
	}
	if dnsname.EqualFold(name, s.origin) {
		exists = true
	}
	return match, cname, exists
}

func (s *scServer) hasOwner(name string) bool {
	return dnsname.EqualFold(name, s.origin) || slices.ContainsFunc(s.rrs, func(rr dns.RR) bool { return dnsname.EqualFold(rr.Header().Name, name) })
}

// closestEncloser returns the deepest existing ancestor of name in the zone.
func (s *scServer) closestEncloser(name string) string {
	for i, end := dns.NextLabel(name, 0); !end; i, end = dns.NextLabel(name, i) {
		anc := name[i:]
		if !dnsname.IsSubDomain(s.origin, anc) {
			return ""
		}
		if _, _, ok := s.lookupName(anc, 0); ok {
			return anc
		}
	}
	return ""
}

func renamed(rrs []dns.RR, name string) []dns.RR {
	out := make([]dns.RR, 0, len(rrs))
	for _, rr := range rrs {
		c := dns.Copy(rr)
		c.Header().Name = name
		out = append(out, c)
	}
	return out
}

// run plays the scenario against a new resolver.
func (sc *scenario) run(t *testing.T) {
	f := newFakeNet()
	sn := &scNet{sc: sc}
	seen := map[netip.Addr]bool{}
	for _, s := range sc.servers {
		if !seen[s.addr] {
			seen[s.addr] = true
			f.servers[netip.AddrPortFrom(s.addr, 53)] = sn.handle(s.addr)
		}
	}
	roots := sc.roots
	if len(roots) == 0 {
		roots = []netip.Addr{netip.MustParseAddr("198.18.0.1")}
	}
	var hints []dns.RR
	for i, a := range roots {
		ns := fmt.Sprintf("%c.root-servers.net.", 'a'+i)
		rr, _ := dns.NewRR(". 3600000 NS " + ns)
		hints = append(hints, rr)
		t := "A"
		if a.Is6() {
			t = "AAAA"
		}
		rr, _ = dns.NewRR(ns + " 3600000 " + t + " " + a.String())
		hints = append(hints, rr)
	}
	clk := newFakeClock()
	cfg := Config{RootHints: hints, Transport: f, Clock: clk, HealthInterval: -1}
	var after []func(*Resolver) error
	for _, c := range sc.config {
		hook, err := scenarioConfig(&cfg, c)
		if err != nil {
			t.Fatalf("%s:%d: config %v: %v", sc.file, sc.line, c, err)
		}
		if hook != nil {
			after = append(after, hook)
		}
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, h := range after {
		if err := h(r); err != nil {
			t.Fatalf("%s:%d: %v", sc.file, sc.line, err)
		}
	}
	qn := 0
	for _, st := range sc.steps {
		if st.query.Name == "" {
			clk.Advance(st.wait)
			continue
		}
		qn++
		sn.step.Store(int64(qn))
		f.reset()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		m, rerr := r.Resolve(ctx, st.query)
		cancel()
		where := fmt.Sprintf("%s:%d: %s %s", sc.file, st.line, st.query.Name, dns.TypeToString[st.query.Qtype])
		if m.Rcode != st.rcode {
			t.Errorf("%s: rcode %s (%v), want %s\n%s", where, dns.RcodeToString[m.Rcode], rerr, dns.RcodeToString[st.rcode], sendLog(f))
			continue
		}
		got := make([]string, 0, len(m.Answer))
		for _, rr := range m.Answer {
			got = append(got, rrLine(rr))
		}
		want := slices.Clone(st.answer)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: answer\n  %s\nwant\n  %s", where, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
		if st.soa && !slices.ContainsFunc(m.Ns, func(rr dns.RR) bool { return rr.Header().Rrtype == dns.TypeSOA }) {
			t.Errorf("%s: no SOA in authority: %v", where, m.Ns)
		}
		if st.soaTTL >= 0 && !slices.ContainsFunc(m.Ns, func(rr dns.RR) bool {
			return rr.Header().Rrtype == dns.TypeSOA && rr.Header().Ttl == uint32(st.soaTTL)
		}) {
			t.Errorf("%s: no SOA with TTL %d in authority: %v", where, st.soaTTL, m.Ns)
		}
		if st.ede >= 0 && !hasEDE(m, uint16(st.ede)) {
			t.Errorf("%s: no Extended DNS Error %d in %v", where, st.ede, m.Extra)
		}
		for _, c := range st.sent {
			n := 0
			for _, s := range f.sends() {
				if (c.addr == "*" || s.server.Addr().String() == c.addr) && (c.name == "" || dnsname.EqualFold(c.name, s.name)) && (c.qtype == 0 || c.qtype == s.qtype) {
					n++
				}
			}
			if c.some != (n > 0) {
				t.Errorf("%s: %d queries sent to %s %s %s\n%s", where, n, c.addr, c.name, dns.TypeToString[c.qtype], sendLog(f))
			}
		}
	}
}

func hasEDE(m *dns.Msg, code uint16) bool {
	for _, rr := range m.Extra {
		if opt, ok := rr.(*dns.OPT); ok {
			for _, o := range opt.Option {
				if e, ok := o.(*dns.EDNS0_EDE); ok && e.InfoCode == code {
					return true
				}
			}
		}
	}
	return false
}

func sendLog(f *fakeNet) string {
	var b strings.Builder
	for _, s := range f.sends() {
		fmt.Fprintf(&b, "    sent %s %s %s %s\n", s.network, s.server.Addr(), s.name, dns.TypeToString[s.qtype])
	}
	return b.String()
}

func loadScenarios(t *testing.T) []*scenario {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "scenarios", "*.scn"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	var all []*scenario
	for _, p := range files {
		scs, err := parseScenarios(p)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, scs...)
	}
	return all
}

// TestScenarioTopics: the suite keeps a file of scenarios for each RFC
// topic the iterator implements, and at least 80 in all.
func TestScenarioTopics(t *testing.T) {
	count := map[string]int{}
	all := loadScenarios(t)
	for _, sc := range all {
		count[strings.TrimSuffix(sc.file, ".scn")]++
	}
	for _, topic := range []string{"rfc1034-delegation", "rfc2181-ranking", "rfc2308-negative", "rfc4592-wildcard", "rfc6672-dname",
		"rfc6891-edns", "rfc9156-qmin", "rfc8020-nxdomain-cut", "rfc8767-stale", "rfc9520-failures"} {
		if count[topic] < 3 {
			t.Errorf("%s: %d scenarios, want at least 3", topic, count[topic])
		}
	}
	if len(all) < 80 {
		t.Errorf("%d scenarios, want at least 80", len(all))
	}
}

// TestScenarios runs every scenario of testdata/scenarios, one subtest
// each, named file/title.
func TestScenarios(t *testing.T) {
	for _, sc := range loadScenarios(t) {
		name := strings.TrimSuffix(sc.file, ".scn") + "/" + sc.title
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sc.run(t)
		})
	}
}
