package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if RunHelper() {
		os.Exit(0)
	}
	if ok, why := Available(); !ok {
		fmt.Fprintf(os.Stderr, "lab: %s; every lab test will skip\n", why)
		os.Exit(m.Run())
	}
	if swept := SweepLeftovers(); len(swept) > 0 {
		fmt.Fprintf(os.Stderr, "lab: swept %d leftover namespaces of dead runs: %s\n", len(swept), strings.Join(swept, " "))
	}
	bin, err := os.MkdirTemp("", "lab-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	root, _ := filepath.Abs("../..")
	start := time.Now()
	r, rwhy := BuildCommand(root, bin, "resolverd")
	if p := os.Getenv("LAB_RESOLVERD"); p != "" { // a prebuilt binary
		r, rwhy = p, ""
	}
	d, dwhy := BuildCommand(root, bin, "dnsctl")
	fmt.Fprintf(os.Stderr, "lab: built binaries in %v (resolverd: %s; dnsctl: %s)\n",
		time.Since(start).Round(time.Millisecond), orWhy(r, rwhy), orWhy(d, dwhy))
	SetBinaries(r, rwhy, d, dwhy)
	code := m.Run()
	os.RemoveAll(bin)
	os.Exit(code)
}

func orWhy(bin, why string) string {
	if bin != "" {
		return "ok"
	}
	return why
}

// TestLabNetwork checks the harness alone: the internet's delegation chain
// answers from a client, the git server serves the config repo over git://
// and HTTP, and a cut link really drops traffic (timeouts) until restored.
func TestLabNetwork(t *testing.T) {
	l := New(t, Options{NoNodes: true})
	c := l.Client("dc1")

	r, err := c.Dig("@"+RootIP, "+norec", ExternalWWW, "A")
	if err != nil || !strings.Contains(r.Raw, "a.gtld-servers.net") {
		t.Fatalf("root did not refer com. to the TLD server: %v\n%s", err, r.Raw)
	}
	r, err = c.Dig("@"+SLDIP, "+norec", ExternalWWW, "AAAA")
	if err != nil || r.Status != "NOERROR" || !contains(r.Answers, ExternalWWWAAAA) {
		t.Fatalf("example.com. server: %v %+v", err, r)
	}

	for _, url := range []string{GitURL(), HTTPURL()} {
		dst := filepath.Join(l.Dir(), "clone-"+strings.SplitN(url, ":", 2)[0])
		out, code, err := c.exec(20*time.Second, nil, "git", "clone", "-q", "--branch", "production", url, dst)
		if err != nil || code != 0 {
			t.Fatalf("git clone %s from a client: exit %d %v: %s", url, code, err, out)
		}
		if _, err := os.Stat(filepath.Join(dst, ConfigDir, "clusters", "dc1.yaml")); err != nil {
			t.Fatalf("clone of %s lacks the config: %v", url, err)
		}
		l.Logf("client cloned %s", url)
	}

	l.Cut("dc1", "inet")
	start := time.Now()
	r, err = c.Dig("@"+SLDIP, "+norec", ExternalWWW, "A")
	if err == nil && r.Status != "" {
		t.Fatalf("cut link still carried a DNS answer: %+v", r)
	}
	if time.Since(start) < time.Second {
		t.Fatalf("cut link failed fast (%v): should drop silently", time.Since(start))
	}
	if _, err := Query(l.Client("dc2").Host.NS, SLDIP, ExternalWWW, 1, time.Second); err != nil {
		t.Fatalf("dc2 lost the internet when only dc1 was cut: %v", err)
	}
	l.Restore("dc1", "inet")
	r, err = c.Dig("@"+SLDIP, "+norec", ExternalWWW, "A")
	if err != nil || r.Status != "NOERROR" {
		t.Fatalf("after restore: %v %+v", err, r)
	}

	// The blackhole address never answers.
	if _, err := Query(c.Host.NS, BlackholeIP, ExternalWWW, 1, 500*time.Millisecond); err == nil {
		t.Fatal("the blackhole answered")
	}
}

// TestLabCleanup: a scenario that stops half-way (here with t.Skip, which
// unwinds like t.Fatal) leaves no namespace, resolv.conf folder, process or
// scratch directory behind.
func TestLabCleanup(t *testing.T) {
	Skip(t)
	var prefix, dir string
	var pids []int
	t.Run("aborted", func(t *testing.T) {
		l := New(t, Options{NoNodes: true})
		prefix, dir = l.net.prefix, l.dir
		for _, p := range l.procs {
			pids = append(pids, p.Pid())
		}
		t.Skip("aborting mid-scenario: the lab must still be torn down")
	})
	if prefix == "" || len(pids) == 0 {
		t.Fatal("the lab did not start")
	}
	out, err := run("ip", "netns", "list")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, prefix) {
		t.Errorf("namespaces of the aborted lab remain:\n%s", out)
	}
	if ents, _ := filepath.Glob(filepath.Join("/etc/netns", prefix+"*")); len(ents) > 0 {
		t.Errorf("resolv.conf folders remain: %v", ents)
	}
	for _, pid := range pids {
		if pidAlive(pid) {
			t.Errorf("process %d of the aborted lab is still running", pid)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("scratch directory %s remains: %v", dir, err)
	}
}
