package gitops

import (
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	_ "github.com/coredns/coredns/plugin/bind"
)

func init() {
	// A CoreDNS with only bind and gitops (cmd/resolverd registers the
	// product's full chain).
	dnsserver.Directives = []string{"bind", pluginName}
}

func freeUDPPort(t testing.TB) int {
	t.Helper()
	for i := 0; i < 20; i++ {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		pc.Close()
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			l.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

func dig(t *testing.T, port int, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("dig"); err != nil {
		t.Skip("dig not installed")
	}
	args = append([]string{"@127.0.0.1", "-p", fmt.Sprint(port), "+short", "+time=2", "+tries=1"}, args...)
	out, _ := exec.Command("dig", args...).CombinedOutput()
	return strings.Trim(strings.TrimSpace(string(out)), `"`)
}

// A real CoreDNS server with the gitops plugin answers the served commit
// over UDP and TCP (dig), follows commits, and serves the state dir after a
// restart with the repository gone.
func TestCoreDNSServesRevision(t *testing.T) {
	repo := newTestRepo(t)
	first := repo.commit("first")
	state := filepath.Join(t.TempDir(), "state")
	port := freeUDPPort(t)
	corefile := fmt.Sprintf(`.:%d {
    bind 127.0.0.1
    gitops %s {
        ref     refs/heads/master
        path    %s
        cluster dev
        node    local
        poll    100ms
        state   %s
        probes  off
    }
}
`, port, repo.dir, cfgPath, state)
	start := func() *caddy.Instance {
		inst, err := caddy.Start(caddy.CaddyfileInput{Contents: []byte(corefile), ServerTypeName: "dns"})
		if err != nil {
			t.Fatal(err)
		}
		return inst
	}
	inst := start()
	waitFor(t, func() bool { return dig(t, port, "CH", "TXT", "version.config.") == first })
	if got := dig(t, port, "+tcp", "CH", "TXT", "version.config."); got != first {
		t.Fatalf("over TCP: %q", got)
	}
	if got := dig(t, port, "CH", "TXT", "id.server."); got != "local" {
		t.Fatalf("id.server: %q", got)
	}
	repo.write("zones/corp.internal.zone", zone(2026112102, "198.18.5.81"))
	second := repo.commit("second")
	waitFor(t, func() bool { return dig(t, port, "CH", "TXT", "version.config.") == second })
	stopInstance(inst)
	inst.Wait()

	if err := exec.Command("rm", "-rf", repo.dir).Run(); err != nil {
		t.Fatal(err)
	}
	inst = start()
	defer stopInstance(inst)
	if got := dig(t, port, "CH", "TXT", "version.config."); got != second {
		t.Fatalf("after restart with the repo gone: %q, want %s", got, second)
	}
}

// A reload (what SIGUSR1 does) with the status endpoint configured: the
// new instance takes the port over, the revision keeps being answered.
func TestCoreDNSReload(t *testing.T) {
	repo := newTestRepo(t)
	first := repo.commit("first")
	port, hport := freeUDPPort(t), freeUDPPort(t)
	corefile := fmt.Sprintf(`.:%d {
    bind 127.0.0.1
    gitops %s {
        ref     master
        path    %s
        cluster dev
        node    local
        poll    1h
        state   %s
        probes  off
        http    127.0.0.1:%d
    }
}
`, port, repo.dir, cfgPath, filepath.Join(t.TempDir(), "state"), hport)
	in := caddy.CaddyfileInput{Contents: []byte(corefile), ServerTypeName: "dns"}
	inst, err := caddy.Start(in)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return dig(t, port, "CH", "TXT", "version.config.") == first })
	inst2, err := inst.Restart(in)
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	defer stopInstance(inst2)
	if got := dig(t, port, "CH", "TXT", "version.config."); got != first {
		t.Fatalf("after reload: %q", got)
	}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/status", hport))
	if err != nil {
		t.Fatalf("status after reload: %v", err)
	}
	resp.Body.Close()
}

// stopInstance stops a CoreDNS instance as SIGTERM does: shutdown callbacks
// first (they end the gitops sync loop), then the servers. caddy's Stop alone
// leaves the loop running into the next test.
func stopInstance(inst *caddy.Instance) {
	inst.ShutdownCallbacks()
	inst.Stop()
}
