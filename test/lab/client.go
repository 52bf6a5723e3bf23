package lab

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Client is a client host of a site: its resolv.conf lists the site's
// resolver nodes with `search corp.internal`.
type Client struct {
	Name    string
	Host    *Host
	Servers []string // resolv.conf nameservers, in order

	lab *Lab
}

func (c *Client) exec(timeout time.Duration, env []string, argv ...string) (string, int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", c.Host.NS}, argv...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
		err = nil
	}
	if ctx.Err() != nil {
		return string(out), -1, fmt.Errorf("%s: %v timed out after %v", c.Name, argv, timeout)
	}
	return string(out), code, err
}

// Getent resolves name with glibc (`getent ahosts`): the addresses, in
// order, without duplicates. A name glibc cannot resolve is an error.
func (c *Client) Getent(name string) ([]string, error) {
	start := time.Now()
	out, code, err := c.exec(15*time.Second, nil, "getent", "ahosts", name)
	if err == nil && code != 0 {
		err = fmt.Errorf("getent ahosts %s: exit %d (2 = not found)", name, code)
	}
	var addrs []string
	if err == nil {
		seen := map[string]bool{}
		sc := bufio.NewScanner(strings.NewReader(out))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) > 0 && !seen[f[0]] {
				seen[f[0]] = true
				addrs = append(addrs, f[0])
			}
		}
	}
	c.lab.Logf("%s: getent ahosts %s -> %s (%v)", c.Name, name, showResult(addrs, err), time.Since(start).Round(time.Millisecond))
	return addrs, err
}

// DigResult is what dig printed, parsed.
type DigResult struct {
	Status  string   // NOERROR, NXDOMAIN, SERVFAIL, ... ("" if no answer at all)
	Answers []string // rdata of the answer section, in order
	Flags   string
	EDE     string // the EDE line of the OPT pseudosection, if any
	Server  string
	Raw     string
}

// Dig runs dig in the client's namespace (+tries=1 +time=2 unless args
// say otherwise). Without an @server it uses the client's resolv.conf.
func (c *Client) Dig(args ...string) (*DigResult, error) {
	start := time.Now()
	argv := append([]string{"dig", "+tries=1", "+time=2"}, args...)
	out, code, err := c.exec(20*time.Second, nil, argv...)
	res := parseDig(out)
	if err == nil && code != 0 && res.Status == "" {
		err = fmt.Errorf("dig %s: exit %d: %s", strings.Join(args, " "), code, lastLine(out))
	}
	what := res.Status
	if len(res.Answers) > 0 {
		what += " " + strings.Join(res.Answers, ", ")
	}
	if res.EDE != "" {
		what += " [" + res.EDE + "]"
	}
	if err != nil {
		what = "ERROR " + err.Error()
	}
	c.lab.Logf("%s: dig %s -> %s (%v)", c.Name, strings.Join(args, " "), what, time.Since(start).Round(time.Millisecond))
	return res, err
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndex(s, "\n"); i >= 0 {
		return s[i+1:]
	}
	return s
}

func parseDig(out string) *DigResult {
	r := &DigResult{Raw: out}
	inAnswer := false
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.Contains(line, "->>HEADER<<-"):
			if i := strings.Index(line, "status: "); i >= 0 {
				r.Status = strings.TrimRight(strings.Fields(line[i+8:])[0], ",")
			}
		case strings.HasPrefix(line, ";; flags:"):
			r.Flags = strings.TrimSpace(strings.SplitN(strings.TrimPrefix(line, ";; flags:"), ";", 2)[0])
		case strings.HasPrefix(line, "; EDE:"):
			r.EDE = strings.TrimSpace(strings.TrimPrefix(line, "; EDE:"))
		case strings.HasPrefix(line, ";; SERVER:"):
			r.Server = strings.TrimSpace(strings.TrimPrefix(line, ";; SERVER:"))
		case strings.HasPrefix(line, ";; ANSWER SECTION:"):
			inAnswer = true
		case inAnswer && strings.TrimSpace(line) == "":
			inAnswer = false
		case inAnswer && !strings.HasPrefix(line, ";"):
			f := strings.Fields(line)
			if len(f) >= 5 {
				r.Answers = append(r.Answers, strings.Join(f[4:], " "))
			}
		}
	}
	return r
}

// GoResolve resolves name with Go's own resolver (net.Resolver with
// PreferGo) run inside the client's namespace: the test binary re-executes
// itself there (see RunHelper).
func (c *Client) GoResolve(name string) ([]string, error) {
	start := time.Now()
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	out, code, err := c.exec(15*time.Second, []string{"LAB_HELPER=goresolve", "LAB_NAME=" + name, "GODEBUG=netdns=go"}, self)
	var res helperResult
	if err == nil {
		if jerr := json.Unmarshal([]byte(lastLine(out)), &res); jerr != nil {
			err = fmt.Errorf("go resolver helper (exit %d): %v: %s", code, jerr, out)
		} else if res.Error != "" {
			err = errors.New(res.Error)
		}
	}
	c.lab.Logf("%s: go LookupIPAddr %s -> %s (%v)", c.Name, name, showResult(res.Addrs, err), time.Since(start).Round(time.Millisecond))
	return res.Addrs, err
}

type helperResult struct {
	Addrs []string `json:"addrs"`
	Error string   `json:"error,omitempty"`
}

// RunHelper runs the in-namespace helper when the test binary was
// re-executed for it, and reports whether it did (TestMain then exits).
func RunHelper() bool {
	switch os.Getenv("LAB_HELPER") {
	case "goresolve":
		r := &net.Resolver{PreferGo: true}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ips, err := r.LookupIPAddr(ctx, os.Getenv("LAB_NAME"))
		var res helperResult
		for _, ip := range ips {
			res.Addrs = append(res.Addrs, ip.IP.String())
		}
		if err != nil {
			res.Error = err.Error()
		}
		b, _ := json.Marshal(res)
		fmt.Println(string(b))
		return true
	}
	return false
}

func showResult(addrs []string, err error) string {
	if err != nil {
		return "ERROR " + err.Error()
	}
	s := append([]string(nil), addrs...)
	sort.Strings(s)
	return "[" + strings.Join(s, " ") + "]"
}

// Resolve asks like a stub resolver with resolv.conf `timeout:1
// attempts:2`: each server in order, 1 s per try, two rounds. It returns
// the answer, how many tries it took, and an error when every try failed.
func (c *Client) Resolve(name string, qtype uint16) (*dns.Msg, int, error) {
	s := c.newStub()
	defer s.close()
	return s.resolve(name, qtype)
}

// stub holds one connected UDP socket per server, created in the client's
// namespace (a refused or unreachable server shows up as an error on it).
type stub struct {
	c     *Client
	conns []*dns.Conn
}

func (c *Client) newStub() *stub {
	s := &stub{c: c, conns: make([]*dns.Conn, len(c.Servers))}
	return s
}

func (s *stub) conn(i int) (*dns.Conn, error) {
	if s.conns[i] != nil {
		return s.conns[i], nil
	}
	var nc net.Conn
	err := inNS(s.c.Host.NS, func() error {
		var err error
		nc, err = net.Dial("udp", net.JoinHostPort(s.c.Servers[i], "53"))
		return err
	})
	if err != nil {
		return nil, err
	}
	s.conns[i] = &dns.Conn{Conn: nc}
	return s.conns[i], nil
}

func (s *stub) close() {
	for _, c := range s.conns {
		if c != nil {
			c.Close()
		}
	}
}

func (s *stub) ask(i int, m *dns.Msg) (*dns.Msg, error) {
	co, err := s.conn(i)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(time.Second)
	co.SetDeadline(deadline)
	if err := co.WriteMsg(m); err != nil {
		return nil, err
	}
	for {
		r, err := co.ReadMsg()
		if err != nil {
			return nil, err
		}
		if r.Id == m.Id && len(r.Question) == 1 && strings.EqualFold(r.Question[0].Name, m.Question[0].Name) {
			return r, nil
		}
		// a late answer to an earlier try: keep reading until the deadline
	}
}

func (s *stub) resolve(name string, qtype uint16) (*dns.Msg, int, error) {
	var lastErr error
	tries := 0
	for round := 0; round < 2; round++ {
		for i, srv := range s.c.Servers {
			tries++
			m := new(dns.Msg)
			m.SetQuestion(dns.Fqdn(name), qtype)
			r, err := s.ask(i, m)
			if err != nil {
				lastErr = fmt.Errorf("%s: %w", srv, err)
				continue
			}
			if r.Rcode == dns.RcodeServerFailure || r.Rcode == dns.RcodeRefused {
				lastErr = fmt.Errorf("%s from %s", dns.RcodeToString[r.Rcode], srv)
				continue
			}
			return r, tries, nil
		}
	}
	return nil, tries, lastErr
}

// LoadStats is what a client load saw.
type LoadStats struct {
	mu       sync.Mutex
	Sent     int // logical queries (each may be retried)
	OK       int // answered with the expected rcode and answers
	Retried  int // answered, but only after more than one try
	Failed   int // every try failed, or a wrong answer
	Failures []string
	MaxLat   time.Duration
	lats     []time.Duration
}

// P99 is the 99th percentile latency of answered queries.
func (s *LoadStats) P99() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.lats) == 0 {
		return 0
	}
	l := append([]time.Duration(nil), s.lats...)
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	return l[len(l)*99/100]
}

func (s *LoadStats) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("sent %d, ok %d (retried %d), failed %d, max latency %v", s.Sent, s.OK, s.Retried, s.Failed, s.MaxLat.Round(time.Millisecond))
}

// LoadQuery is one question of a load with what its answer must contain.
type LoadQuery struct {
	Name   string
	Type   uint16
	Expect string // an address the answer must hold ("" = any NOERROR)
}

// Load sends queries (round robin over qs) at about qps per second with
// workers in parallel until ctx ends, as stub resolvers with resolv.conf
// would (Resolve), and returns what they saw.
func (c *Client) Load(ctx context.Context, qps, workers int, qs []LoadQuery) *LoadStats {
	st := &LoadStats{}
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / time.Duration(qps))
	defer tick.Stop()
	jobs := make(chan LoadQuery)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sb := c.newStub()
			defer sb.close()
			for q := range jobs {
				start := time.Now()
				r, tries, err := sb.resolve(q.Name, q.Type)
				lat := time.Since(start)
				ok := err == nil && r.Rcode == dns.RcodeSuccess && (q.Expect == "" || contains(Addrs(r), q.Expect))
				st.mu.Lock()
				st.Sent++
				if ok {
					st.OK++
					if tries > 1 {
						st.Retried++
					}
					st.lats = append(st.lats, lat)
					if lat > st.MaxLat {
						st.MaxLat = lat
					}
				} else {
					st.Failed++
					if len(st.Failures) < 20 {
						why := fmt.Sprint(err)
						if err == nil {
							why = fmt.Sprintf("%s %v", dns.RcodeToString[r.Rcode], Addrs(r))
						}
						st.Failures = append(st.Failures, fmt.Sprintf("%s %s: %s", time.Now().Format("15:04:05.000"), q.Name, why))
					}
				}
				st.mu.Unlock()
			}
		}()
	}
	i := 0
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-tick.C:
			select {
			case jobs <- qs[i%len(qs)]:
				i++
			case <-ctx.Done():
				break loop
			}
		}
	}
	close(jobs)
	wg.Wait()
	return st
}
