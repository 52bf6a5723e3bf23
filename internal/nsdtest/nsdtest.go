// Package nsdtest owns running NSD on loopback for a test: a free port
// shared by several addresses, the zone files and nsd.conf (internal/nsdconf
// writes it) in a temporary folder, the process (internal/proctest stops it
// when the test ends) and the wait until it answers. For tests only; no
// production code imports it.
package nsdtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gitops-dns/resolverd/internal/nsdconf"
	"github.com/gitops-dns/resolverd/internal/proctest"
	"github.com/miekg/dns"
)

// Path is where Debian installs NSD.
const Path = "/usr/sbin/nsd"

// Available reports whether NSD is installed.
func Available() bool {
	_, err := os.Stat(Path)
	return err == nil
}

// FreePort returns a port free for UDP and TCP on every address of addrs
// (each a loopback address).
func FreePort(t testing.TB, addrs []string) int {
	t.Helper()
	for try := 0; try < 20; try++ {
		l, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.LocalAddr().(*net.UDPAddr).Port
		l.Close()
		ok := true
		for _, a := range addrs {
			u, err1 := net.ListenPacket("udp", net.JoinHostPort(a, fmt.Sprint(port)))
			tc, err2 := net.Listen("tcp", net.JoinHostPort(a, fmt.Sprint(port)))
			if u != nil {
				u.Close()
			}
			if tc != nil {
				tc.Close()
			}
			if err1 != nil || err2 != nil {
				ok = false
			}
		}
		if ok {
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// Start runs NSD on addr:port serving zones (origin -> master file text)
// until the test ends, and returns once it answers the SOA of one of them.
// RESOLVER_NSD_CPUS pins it (taskset -c): benchmarks pin the resolver
// elsewhere, as the benchmark kit does.
func Start(t testing.TB, addr string, port int, zones map[string]string) {
	t.Helper()
	dir := t.TempDir()
	srv := nsdconf.Server{Addr: addr, Port: port, Dir: dir, ZonesDir: dir, LogFile: filepath.Join(dir, "nsd.log")}
	origins := make([]string, 0, len(zones))
	for o := range zones {
		origins = append(origins, o)
	}
	sort.Strings(origins)
	for i, origin := range origins {
		file := fmt.Sprintf("z%d.zone", i)
		if err := os.WriteFile(filepath.Join(dir, file), []byte(zones[origin]), 0o644); err != nil {
			t.Fatal(err)
		}
		srv.Zones = append(srv.Zones, nsdconf.Zone{Origin: origin, File: file})
	}
	cf := filepath.Join(dir, "nsd.conf")
	if err := os.WriteFile(cf, []byte(srv.Config()), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(Path, "-d", "-c", cf)
	if cpus := os.Getenv("RESOLVER_NSD_CPUS"); cpus != "" {
		cmd = exec.Command("taskset", "-c", cpus, Path, "-d", "-c", cf)
	}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := proctest.Start(t, cmd, 5*time.Second); err != nil {
		t.Fatalf("start nsd: %v", err)
	}
	c := &dns.Client{Timeout: 200 * time.Millisecond}
	m := new(dns.Msg)
	m.SetQuestion(origins[0], dns.TypeSOA)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if r, _, err := c.Exchange(m, net.JoinHostPort(addr, fmt.Sprint(port))); err == nil && r.Rcode == dns.RcodeSuccess {
			return
		}
	}
	log, _ := os.ReadFile(filepath.Join(dir, "nsd.log"))
	t.Fatalf("nsd on %s:%d did not come up:\n%s\n%s", addr, port, out.String(), log)
}
