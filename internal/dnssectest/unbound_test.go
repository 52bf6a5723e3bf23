package dnssectest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/gitops-dns/resolverd/internal/nsdtest"
	"github.com/miekg/dns"
)

// TestUnboundAgrees runs Unbound, validation on, against the signed
// internet: each variant is what a reference validator says it is, so the
// expectations the validation tests hold the resolver to are not ours
// alone. "secure" is NOERROR with AD, "insecure" NOERROR/NXDOMAIN without
// AD, "bogus" SERVFAIL.
func TestUnboundAgrees(t *testing.T) {
	if !Available() {
		t.Skip("bind9-utils or NSD not installed")
	}
	if _, err := exec.LookPath("unbound"); err != nil {
		t.Skip("unbound not installed")
	}
	if testing.Short() {
		t.Skip("-short")
	}
	in := Start(t)
	addr := unbound(t, in)
	for _, tc := range Expectations {
		t.Run(tc.Name+"/"+dns.TypeToString[tc.Type], func(t *testing.T) {
			m := new(dns.Msg)
			m.SetQuestion(tc.Name, tc.Type)
			m.SetEdns0(1232, true)
			c := &dns.Client{Timeout: 5 * time.Second}
			r, _, err := c.Exchange(m, addr)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.Status
			if tc.Unbound != "" {
				want = tc.Unbound
			}
			got := "insecure"
			switch {
			case r.Rcode == dns.RcodeServerFailure:
				got = "bogus"
			case r.AuthenticatedData:
				got = "secure"
			}
			if got != want {
				t.Fatalf("unbound says %s (rcode %s, ad=%v), want %s", got, dns.RcodeToString[r.Rcode], r.AuthenticatedData, want)
			}
		})
	}
}

// unbound starts Unbound on 127.0.0.1 resolving from in's root with in's
// trust anchor and returns its address.
func unbound(t *testing.T, in *Internet) string {
	t.Helper()
	dir := t.TempDir()
	port := nsdtest.FreePort(t, []string{"127.0.0.1"})
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ta := write("ta.zone", in.TrustAnchor)
	conf := write("unbound.conf", fmt.Sprintf(`server:
	interface: 127.0.0.1@%d
	port: %d
	do-ip6: no
	username: ""
	chroot: ""
	directory: "%s"
	pidfile: "%s/unbound.pid"
	use-syslog: no
	logfile: "%s/unbound.log"
	do-not-query-localhost: no
	trust-anchor-file: "%s"
	module-config: "validator iterator"
	qname-minimisation: no
	num-threads: 1
	outgoing-port-permit: 1024-65535
	access-control: 127.0.0.0/8 allow
	val-log-level: 2
	verbosity: 3
	ede: yes
remote-control:
	control-enable: no
`, port, port, dir, dir, dir, ta))
	// The NSD servers answer on in.Port, Unbound asks port 53: every zone
	// cut goes to its server and port by a stub zone (the root's replaces
	// the root hints).
	var stubs string
	stubs += fmt.Sprintf("stub-zone:\n\tname: \".\"\n\tstub-addr: %s@%d\n", RootAddr, in.Port)
	stubs += fmt.Sprintf("stub-zone:\n\tname: \"example.\"\n\tstub-addr: %s@%d\n", TLDAddr, in.Port)
	for _, c := range Children {
		stubs += fmt.Sprintf("stub-zone:\n\tname: \"%s\"\n\tstub-addr: %s@%d\n", c, ChildAddr, in.Port)
	}
	f, err := os.OpenFile(conf, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(stubs)
	f.Close()
	cmd := exec.Command("unbound", "-d", "-c", conf)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, _ := os.Create(filepath.Join(dir, "stdout"))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "unbound.log"))
			t.Logf("unbound.log:\n%s", b)
		}
	})
	a := net.JoinHostPort("127.0.0.1", fmt.Sprint(port))
	c := &dns.Client{Timeout: 300 * time.Millisecond}
	m := new(dns.Msg)
	m.SetQuestion("version.server.", dns.TypeTXT)
	m.Question[0].Qclass = dns.ClassCHAOS
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, _, err := c.Exchange(m, a); err == nil {
			return a
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, "stdout"))
	t.Fatalf("unbound did not come up:\n%s", b)
	return ""
}
