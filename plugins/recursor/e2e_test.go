package recursor

import (
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	_ "github.com/coredns/coredns/plugin/bind"

	"github.com/gitops-dns/resolverd/node"
)

var e2eSource = &swapSource{}

func init() {
	sourceOf = func(*caddy.Controller) node.Source { return e2eSource }
	dnsserver.Directives = []string{"bind", "recursor"}
}

// TestEndToEndDig runs a real CoreDNS server (bind -> recursor) on
// 127.0.0.1 and asks it with dig over UDP and TCP; the recursor resolves
// through a real authoritative server on loopback.
func TestEndToEndDig(t *testing.T) {
	dig, err := exec.LookPath("dig")
	if err != nil {
		t.Skip("dig is not installed")
	}
	root, _ := authServer(t, "www.example.com. 300 IN A 192.0.2.1\nwww.example.com. 300 IN TXT \"hello\"", false)
	e2eSource.p.Store(&node.Snapshot{RecursionAllow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, RootHints: hints(t)})

	// A free UDP port may be taken over TCP by another test meanwhile:
	// try a few ports before giving up.
	var port int
	var inst *caddy.Instance
	for try := 0; ; try++ {
		l, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port = l.LocalAddr().(*net.UDPAddr).Port
		l.Close()
		corefile := fmt.Sprintf(".:%d {\n    bind 127.0.0.1\n    recursor {\n        port %d\n        no_ipv6\n        query_localhost\n    }\n}\n", port, root.Port())
		inst, err = caddy.Start(caddy.CaddyfileInput{Contents: []byte(corefile), Filepath: "Corefile.e2e", ServerTypeName: "dns"})
		if err == nil {
			break
		}
		if try == 4 || !strings.Contains(err.Error(), "address already in use") {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _ = inst.Stop() })

	run := func(args ...string) string {
		t.Helper()
		base := []string{"@127.0.0.1", "-p", fmt.Sprint(port), "+time=3", "+tries=1"}
		out, err := exec.Command(dig, append(base, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("dig %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"www.example.com", "A", "+short"}, "192.0.2.1"},
		{[]string{"www.example.com", "TXT", "+short", "+tcp"}, `"hello"`},
		{[]string{"nope.example.com", "A"}, "status: NXDOMAIN"},
		{[]string{"www.example.com", "A"}, "flags: qr rd ra;"},
	} {
		if out := run(tc.args...); !strings.Contains(out, tc.want) {
			t.Fatalf("dig %v:\n%s\nwant %q", tc.args, out, tc.want)
		}
	}
	// A revision that no longer lets loopback recurse: REFUSED.
	e2eSource.p.Store(&node.Snapshot{RecursionAllow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, RootHints: hints(t)})
	if out := run("www.example.com", "A"); !strings.Contains(out, "status: REFUSED") {
		t.Fatalf("client outside recursion.allow:\n%s", out)
	}
}
