package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/cluster/gitrepo/gittest"
)

// TestDamagedStateWithGitDown: a node applied a revision from a git
// daemon, then git went down and its state dir was damaged. Restarted,
// the real resolverd still serves that revision (internal zone and
// fallback record) when only the last-good record, HEAD or config of the
// clone is damaged (repaired, clone kept) and, from the snapshot, when
// the clone's objects are damaged; a damaged snapshot is refused with a
// line saying why (issue 17: each of these served nothing).
func TestDamagedStateWithGitDown(t *testing.T) {
	repo := observedRepo(t)
	head := repo.commit("second revision", map[string]string{"zones/corp.internal.zone": corpZone("2026112102", "198.18.5.81")})
	daemon := gittest.StartDaemon(t, filepath.Dir(repo.dir))
	url := daemon.URL(filepath.Base(repo.dir))
	good := t.TempDir()
	first := newClusterNode(t, url, good, nodeSpec{})
	first.start()
	first.waitServed(head, 30*time.Second)
	first.stop()
	daemon.Stop()

	flip := func(name string) func(t *testing.T, state string) {
		return func(t *testing.T, state string) {
			names, _ := filepath.Glob(filepath.Join(state, name))
			if len(names) == 0 {
				t.Fatalf("nothing matches %s", name)
			}
			for _, p := range names {
				data, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				for i := len(data) / 4; i < len(data)-40; i += 7 {
					data[i] ^= 0x5a
				}
				os.WriteFile(p, data, 0o644)
			}
		}
	}
	write := func(name, content string) func(t *testing.T, state string) {
		return func(t *testing.T, state string) {
			if err := os.WriteFile(filepath.Join(state, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tc := range []struct {
		name    string
		damage  []func(t *testing.T, state string)
		reason  string // Ready reason; "" = not served
		logLine string
	}{
		{"last-good record empty", []func(*testing.T, string){write("last-good", "")}, "ServingLastKnownGood", "repaired: last-good record"},
		{"last-good record truncated", []func(*testing.T, string){write("last-good", `{"revision": "a1`)}, "ServingLastKnownGood", "repaired: last-good record"},
		{"HEAD garbage", []func(*testing.T, string){write("repo.git/HEAD", "\x00\x17garbage")}, "ServingLastKnownGood", "repaired: HEAD"},
		{"HEAD empty", []func(*testing.T, string){write("repo.git/HEAD", "")}, "ServingLastKnownGood", "repaired: HEAD"},
		{"config truncated", []func(*testing.T, string){write("repo.git/config", "[co")}, "ServingLastKnownGood", "repaired: config"},
		{"objects damaged", []func(*testing.T, string){flip("repo.git/objects/pack/*.pack")}, "ServingSnapshot", "from the snapshot"},
		{"objects damaged, snapshot damaged", []func(*testing.T, string){flip("repo.git/objects/pack/*.pack"), flip("last-good.snapshot")}, "", "checksum mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			state := t.TempDir()
			if out, err := exec.Command("cp", "-a", good+"/.", state).CombinedOutput(); err != nil {
				t.Fatalf("copy the state dir: %v %s", err, out)
			}
			for _, d := range tc.damage {
				d(t, state)
			}
			status := freePort(t)
			n := newClusterNode(t, url, state, nodeSpec{gitops: fmt.Sprintf("http 127.0.0.1:%d", status)})
			n.start()
			if tc.reason == "" {
				waitLog(t, n, tc.logLine)
				time.Sleep(time.Second) // a few syncs against the dead remote
				if got := n.servedRevision(); got != "" {
					t.Fatalf("a damaged snapshot is served: %s", got)
				}
				if r, err := n.query("udp", "www.corp.internal.", dns.TypeA, dns.ClassINET); err != nil || r.Rcode != dns.RcodeServerFailure {
					t.Fatalf("nothing valid to serve: www answers %v %v, want SERVFAIL", r, err)
				}
				if !strings.Contains(n.logText(), "SNAPSHOT REFUSED") {
					t.Fatalf("the refusal is not logged:\n%s", n.logText())
				}
				return
			}
			n.waitServed(head, 15*time.Second)
			if r, err := n.query("udp", "www.corp.internal.", dns.TypeA, dns.ClassINET); err != nil || strings.Join(aRecords(r), ",") != "198.18.5.81" {
				t.Fatalf("www.corp.internal with git down: %v %v", r, err)
			}
			if r, err := n.query("tcp", "db.broken.internal.", dns.TypeA, dns.ClassINET); err != nil || strings.Join(aRecords(r), ",") != "198.18.5.10" {
				t.Fatalf("db.broken.internal from its fallback record with git down: %v %v", r, err)
			}
			if got := readyReason(t, status); got != tc.reason {
				t.Fatalf("Ready reason %q, want %q", got, tc.reason)
			}
			waitLog(t, n, tc.logLine)
		})
	}
}

// waitLog waits until the node's log holds want.
func waitLog(t *testing.T, n *node, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(n.logText(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("the log never says %q:\n%s", want, n.logText())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// readyReason is the reason of the Ready condition in GET /status.
func readyReason(t *testing.T, port int) string {
	t.Helper()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(fmt.Sprintf("http://127.0.0.1:%d/status", port))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Conditions []struct{ Type, Reason string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	for _, c := range st.Conditions {
		if c.Type == "Ready" {
			return c.Reason
		}
	}
	return ""
}
