package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// cmdTimeout bounds every helper command (ip, tc, git, ...).
const cmdTimeout = 20 * time.Second

// run runs a command with a deadline and returns its combined output; the
// error names the command and carries the output.
func run(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// Available says whether the lab can run here, and why not.
func Available() (bool, string) {
	if os.Geteuid() != 0 {
		return false, "the lab needs root (network namespaces)"
	}
	for _, bin := range []string{"ip", "nsd", "git", "dig", "getent"} {
		if _, err := exec.LookPath(bin); err != nil {
			return false, fmt.Sprintf("the lab needs %q in PATH (see test/lab/README.md for the Debian packages)", bin)
		}
	}
	probe := fmt.Sprintf("labprobe%d", os.Getpid())
	if _, err := run("ip", "netns", "add", probe); err != nil {
		return false, fmt.Sprintf("`ip netns` is unavailable: %v", err)
	}
	if _, err := run("ip", "netns", "del", probe); err != nil {
		return false, fmt.Sprintf("`ip netns del` failed: %v", err)
	}
	return true, ""
}

var leftoverNS = regexp.MustCompile(`^lab(\d+)-`)

// SweepLeftovers deletes namespaces (and their /etc/netns entries) left by
// lab runs whose process is gone, e.g. after a crash or a SIGKILL.
func SweepLeftovers() []string {
	out, err := run("ip", "netns", "list")
	if err != nil {
		return nil
	}
	var swept []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		m := leftoverNS.FindStringSubmatch(f[0])
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		if pid == os.Getpid() || pidAlive(pid) {
			continue
		}
		killNamespaceProcs(f[0])
		if _, err := run("ip", "netns", "del", f[0]); err == nil {
			swept = append(swept, f[0])
		}
		os.RemoveAll(filepath.Join("/etc/netns", f[0]))
	}
	// resolv.conf folders whose namespace is already gone
	ents, _ := os.ReadDir("/etc/netns")
	for _, e := range ents {
		m := leftoverNS.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		if pid == os.Getpid() || pidAlive(pid) {
			continue
		}
		if _, err := os.Stat(filepath.Join("/var/run/netns", e.Name())); os.IsNotExist(err) {
			os.RemoveAll(filepath.Join("/etc/netns", e.Name()))
		}
	}
	return swept
}

func pidAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

// killNamespaceProcs kills, by pid, the processes still running in a
// leftover namespace of a dead lab run (they were started by that run).
func killNamespaceProcs(ns string) {
	out, err := run("ip", "netns", "pids", ns)
	if err != nil {
		return
	}
	for _, f := range strings.Fields(out) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
			unix.Kill(pid, unix.SIGKILL)
		}
	}
}

// inNS runs fn on an OS thread switched into the named network namespace.
// Sockets created by fn belong to that namespace for their whole life, so
// the caller may use them from any goroutine afterwards.
func inNS(ns string, fn func() error) error {
	target, err := unix.Open(filepath.Join("/var/run/netns", ns), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", ns, err)
	}
	defer unix.Close(target)
	runtime.LockOSThread()
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("open own netns: %w", err)
	}
	defer unix.Close(orig)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("setns %s: %w", ns, err)
	}
	ferr := fn()
	if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
		// Leave the thread locked: it dies with this goroutine instead of
		// serving other goroutines in the wrong namespace.
		return errors.Join(ferr, fmt.Errorf("restore netns: %w", err))
	}
	runtime.UnlockOSThread()
	return ferr
}

// site is one L2 segment (a /24) bridged in the core router namespace.
type site struct {
	name   string
	octet  int // 198.18.<octet>.0/24
	bridge string
}

func (s *site) prefix() netip.Prefix {
	return netip.MustParsePrefix(fmt.Sprintf("198.18.%d.0/24", s.octet))
}

func (s *site) gateway() string { return fmt.Sprintf("198.18.%d.254", s.octet) }

// Host is one machine of the lab: a network namespace with one interface
// (eth0) plugged into its site's bridge in the core namespace.
type Host struct {
	Name  string       // lab name, e.g. "dc1-ns1"
	NS    string       // network namespace name
	Site  string       // site name, e.g. "dc1"
	Addrs []netip.Addr // first one is the primary address
	peer  string       // the veth end in the core namespace
}

// Addr is the host's primary address.
func (h *Host) Addr() netip.Addr { return h.Addrs[0] }

// network builds and tears down the namespaces.
type network struct {
	prefix string
	core   string
	sites  map[string]*site
	hosts  map[string]*Host
	order  []string // namespaces in creation order
	rules  map[string]bool
	nveth  int
}

func newNetwork(prefix string) *network {
	return &network{prefix: prefix, core: prefix + "core", sites: map[string]*site{}, hosts: map[string]*Host{}, rules: map[string]bool{}}
}

func (n *network) ip(args ...string) error {
	_, err := run("ip", args...)
	return err
}

func (n *network) addNS(name string) error {
	if err := n.ip("netns", "add", name); err != nil {
		return err
	}
	n.order = append(n.order, name)
	return n.ip("-n", name, "link", "set", "lo", "up")
}

func (n *network) setup() error {
	if err := n.addNS(n.core); err != nil {
		return err
	}
	_, err := run("ip", "netns", "exec", n.core, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")
	if err != nil {
		return err
	}
	// Traffic to 198.18.6.0/24 is dropped silently: the lab's blackhole.
	return n.ip("-n", n.core, "route", "add", "blackhole", "198.18.6.0/24")
}

func (n *network) addSite(name string, octet int) error {
	s := &site{name: name, octet: octet, bridge: "br" + strconv.Itoa(octet)}
	if err := n.ip("-n", n.core, "link", "add", s.bridge, "type", "bridge"); err != nil {
		return err
	}
	if err := n.ip("-n", n.core, "addr", "add", s.gateway()+"/24", "dev", s.bridge); err != nil {
		return err
	}
	if err := n.ip("-n", n.core, "link", "set", s.bridge, "up"); err != nil {
		return err
	}
	n.sites[name] = s
	return nil
}

func (n *network) addHost(name, siteName string, addrs ...string) (*Host, error) {
	s := n.sites[siteName]
	if s == nil {
		return nil, fmt.Errorf("no site %q", siteName)
	}
	h := &Host{Name: name, NS: n.prefix + name, Site: siteName}
	for _, a := range addrs {
		h.Addrs = append(h.Addrs, netip.MustParseAddr(a))
	}
	if err := n.addNS(h.NS); err != nil {
		return nil, err
	}
	n.nveth++
	h.peer = fmt.Sprintf("v%d", n.nveth)
	if err := n.ip("-n", n.core, "link", "add", h.peer, "type", "veth", "peer", "name", "eth0", "netns", h.NS); err != nil {
		return nil, err
	}
	if err := n.ip("-n", n.core, "link", "set", h.peer, "master", s.bridge, "up"); err != nil {
		return nil, err
	}
	for _, a := range h.Addrs {
		if err := n.ip("-n", h.NS, "addr", "add", a.String()+"/24", "dev", "eth0"); err != nil {
			return nil, err
		}
	}
	if err := n.ip("-n", h.NS, "link", "set", "eth0", "up"); err != nil {
		return nil, err
	}
	if err := n.ip("-n", h.NS, "route", "add", "198.18.0.0/15", "via", s.gateway()); err != nil {
		return nil, err
	}
	n.hosts[name] = h
	return h, nil
}

// cut drops, silently and in both directions, traffic between two sites
// (policy rules of type blackhole in the core router: forwarded packets
// vanish, senders see timeouts, as on a real broken link).
func (n *network) cut(a, b string) error {
	sa, sb := n.sites[a], n.sites[b]
	if sa == nil || sb == nil {
		return fmt.Errorf("cut %s-%s: unknown site", a, b)
	}
	for _, p := range [][2]*site{{sa, sb}, {sb, sa}} {
		key := p[0].name + ">" + p[1].name
		if n.rules[key] {
			continue
		}
		if err := n.ip("-n", n.core, "rule", "add", "from", p[0].prefix().String(), "to", p[1].prefix().String(), "blackhole"); err != nil {
			return err
		}
		n.rules[key] = true
	}
	return nil
}

func (n *network) restore(a, b string) error {
	sa, sb := n.sites[a], n.sites[b]
	if sa == nil || sb == nil {
		return fmt.Errorf("restore %s-%s: unknown site", a, b)
	}
	for _, p := range [][2]*site{{sa, sb}, {sb, sa}} {
		key := p[0].name + ">" + p[1].name
		if !n.rules[key] {
			continue
		}
		if err := n.ip("-n", n.core, "rule", "del", "from", p[0].prefix().String(), "to", p[1].prefix().String(), "blackhole"); err != nil {
			return err
		}
		delete(n.rules, key)
	}
	return nil
}

// linkDown unplugs a host: its veth end in the core goes down.
func (n *network) link(host string, up bool) error {
	h := n.hosts[host]
	if h == nil {
		return fmt.Errorf("no host %q", host)
	}
	state := "down"
	if up {
		state = "up"
	}
	return n.ip("-n", n.core, "link", "set", h.peer, state)
}

// teardown deletes every namespace (veths and bridges go with them) and
// the /etc/netns entries.
func (n *network) teardown() error {
	var errs []error
	for i := len(n.order) - 1; i >= 0; i-- {
		ns := n.order[i]
		if err := n.ip("netns", "del", ns); err != nil {
			errs = append(errs, err)
		}
		os.RemoveAll(filepath.Join("/etc/netns", ns))
	}
	n.order = nil
	return errors.Join(errs...)
}

// writeResolvConf writes /etc/netns/<ns>/resolv.conf, which `ip netns exec`
// bind-mounts over /etc/resolv.conf for everything run in the namespace.
func writeResolvConf(ns string, servers []netip.Addr, search string) error {
	dir := filepath.Join("/etc/netns", ns)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("resolv.conf for %s: %w", ns, err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# written by the resolverd lab\nsearch %s\n", search)
	for _, s := range servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	b.WriteString("options timeout:1 attempts:2\n")
	if err := os.WriteFile(filepath.Join(dir, "resolv.conf"), []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("resolv.conf for %s: %w", ns, err)
	}
	return nil
}
