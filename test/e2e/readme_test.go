package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// readmeCommand is what one command of README.md must do when run as
// written from the root of a repository holding the example config.
type readmeCommand struct {
	exit int      // expected exit status
	want []string // substrings of stdout+stderr ("$HEAD" = the served commit id)
	// verifiedBy: a command of a production host (systemd, a container
	// runtime, a Kubernetes cluster) that this machine cannot run; it names
	// the test that checks the artefact the command uses instead.
	verifiedBy string
}

// readmeCommands is every shell command of README.md's ```sh blocks, as
// written. The test fails when the README has a command this table lacks
// (or the other way round), so a new README command comes with its check.
var readmeCommands = map[string]readmeCommand{
	// The node itself: started once, in the background, by the test.
	"go run ./cmd/resolverd": {},
	// The test suite: this test is part of it.
	"make test": {},

	"dig @127.0.0.1 -p 1053 www.corp.internal A":           {want: []string{"198.18.5.80", " aa"}},
	"dig @127.0.0.1 -p 1053 intranet.corp.internal A":      {want: []string{"CNAME", "www.corp.internal.", "198.18.5.80"}},
	"dig @127.0.0.1 -p 1053 _ldap._tcp.corp.internal SRV":  {want: []string{"SRV", "status: NOERROR"}},
	"dig @127.0.0.1 -p 1053 -x 198.18.5.10":                {want: []string{"db-primary.corp.internal."}},
	"dig @127.0.0.1 -p 1053 anything.build.corp.internal":  {want: []string{"anything.build.corp.internal.", "status: NOERROR", "ANSWER: 1"}},
	"dig @127.0.0.1 -p 1053 +norec host.lab.corp.internal": {want: []string{"AUTHORITY: ", "lab.corp.internal.", "NS"}},
	"dig @127.0.0.1 -p 1053 CH TXT version.config.":        {want: []string{`"$HEAD"`}},
	"dig @127.0.0.1 -p 1053 login.phish.example A":         {want: []string{"status: NXDOMAIN", "EDE: 15"}},
	"dig @127.0.0.1 -p 1053 retired-app.example A":         {want: []string{"198.18.5.80", "EDE: 17"}},
	"curl -s 127.0.0.1:8182/status":                        {want: []string{`"applied"`, `"Ready"`, "$HEAD"}},

	"go run ./cmd/dnsctl check":             {want: []string{"0 errors", "in examples/dns-config at"}},
	"go run ./cmd/dnsctl diff HEAD~1 HEAD":  {want: []string{"us.corp.internal.", "zones +1"}},
	"go run ./cmd/dnsctl graph | dot -Tsvg": {want: []string{"<svg", "production, canary"}},

	"go run ./cmd/dnsctl verify --cluster dev HEAD":                {want: []string{"local", "recorded as verified/dev/"}},
	"go run ./cmd/dnsctl promote HEAD --to production --remote ''": {want: []string{"verified: verified/dev/", "refs/heads/production created at $HEAD locally"}},
	"go run ./cmd/dnsctl promote HEAD --to production --after-bake --bake 1h --status-port 8182 --remote ''": {
		exit: 1, want: []string{"canary us-east"}},

	// DoT and DoH need a certificate the example does not ship: the same
	// clients run against a node with one in TestEncryptedTransports.
	"kdig @127.0.0.1 -p 853 +tls +tls-hostname=ns1.corp.example www.corp.internal":                                                                {verifiedBy: "e2e.TestEncryptedTransports (kdig +tls)"},
	"curl -s -H 'accept: application/dns-message' 'https://ns1.corp.example/dns-query?dns=AAABAAABAAAAAAAAA3d3dwRjb3JwCGludGVybmFsAAABAAE' | xxd": {verifiedBy: "e2e.TestEncryptedTransports (curl DoH GET)"},

	// Run in production: what these commands use is checked by deploy's tests.
	"systemctl daemon-reload && systemctl enable --now resolverd": {verifiedBy: "deploy.TestSystemdUnit (make install + systemd-analyze verify)"},
	"systemctl kill -s HUP resolverd":                             {verifiedBy: "node/syncer.TestSIGHUP (a HUP syncs now)"},
	"docker build -f deploy/Dockerfile --build-arg REVISION=$(git rev-parse HEAD) -t resolverd:0.1.0 .": {
		verifiedBy: "deploy.TestDockerfile (its stages parsed, its go build run as written)"},
	"docker run -d -p 53:53/udp -p 53:53/tcp -v resolverd-state:/var/lib/resolverd -v /etc/resolverd:/etc/resolverd:ro resolverd:0.1.0": {
		verifiedBy: "deploy.TestDockerfile (volume, user, healthcheck)"},
	"kubectl -n dns apply -k deploy/kubernetes/base": {verifiedBy: "deploy.TestKubernetesBase (every manifest parsed, references checked)"},
}

// readmeShellCommands returns the commands of README.md's ```sh blocks,
// without their trailing comments.
func readmeShellCommands(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cmds []string
	in := false
	cont := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "```sh"):
			in = true
		case strings.HasPrefix(line, "```"):
			in = false
		case in:
			cmd, _, _ := strings.Cut(line, " #")
			cmd = strings.TrimSpace(cmd)
			if cont != "" { // the line before ended in a backslash
				cmd, cont = cont+" "+cmd, ""
			}
			if c, ok := strings.CutSuffix(cmd, "\\"); ok {
				cont = strings.TrimSpace(c)
				continue
			}
			if cmd != "" {
				cmds = append(cmds, cmd)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cmds
}

// TestReadmeCommandsAsWritten runs every command of README.md as written,
// from the root of a repository holding the example config (its .dnsctl
// and examples/dns-config, committed twice so HEAD~1 exists), against the
// node `go run ./cmd/resolverd` starts there. `go run ./cmd/X` is the
// binary built from this tree. Everything runs in a network namespace of
// its own with only loopback: the example config recurses to the real
// root, and there a packet to anything but 127.0.0.0/8 has no route.
func TestReadmeCommandsAsWritten(t *testing.T) {
	cmds := readmeShellCommands(t)
	seen := map[string]bool{}
	for _, c := range cmds {
		if _, ok := readmeCommands[c]; !ok {
			t.Errorf("README.md command %q has no entry in readmeCommands", c)
		}
		seen[c] = true
	}
	for c := range readmeCommands {
		if !seen[c] {
			t.Errorf("readmeCommands has %q, which README.md no longer shows", c)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace of its own (the example config recurses to the real root)")
	}
	for _, tool := range []string{"ip", "dig", "curl", "dot", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: %v", tool, err)
		}
	}

	ns := fmt.Sprintf("resolverd-readme-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("cannot make a network namespace: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	if out, err := exec.Command("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up: %v: %s", err, out)
	}

	dir := readmeRepo(t)
	head := strings.TrimSpace(runIn(t, dir, "git", "rev-parse", "HEAD"))

	// The node, as the first README command starts it.
	ctx, cancel := context.WithCancel(context.Background())
	node := exec.CommandContext(ctx, "ip", "netns", "exec", ns, resolverdBin)
	node.Dir = dir
	logPath := filepath.Join(t.TempDir(), "node.log")
	nodeLog, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer nodeLog.Close()
	node.Stdout, node.Stderr = nodeLog, nodeLog
	if err := node.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		node.Wait()
		if t.Failed() {
			data, _ := os.ReadFile(logPath)
			t.Logf("node log:\n%s", data)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _ := exec.Command("ip", "netns", "exec", ns, "dig", "+short", "+time=1", "+tries=1", "@127.0.0.1", "-p", "1053", "CH", "TXT", "version.config.").Output()
		if strings.Contains(string(out), head) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node does not serve %s within 30s (last answer %q)", head, out)
		}
		time.Sleep(200 * time.Millisecond)
	}

	repl := strings.NewReplacer("go run ./cmd/dnsctl", dnsctlBin, "go run ./cmd/resolverd", resolverdBin)
	for _, c := range cmds {
		if c == "go run ./cmd/resolverd" || c == "make test" {
			continue
		}
		want := readmeCommands[c]
		if want.verifiedBy != "" {
			continue
		}
		cctx, ccancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := exec.CommandContext(cctx, "ip", "netns", "exec", ns, "sh", "-c", repl.Replace(c))
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		ccancel()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		if code != want.exit {
			t.Errorf("%s: exit %d, want %d; output:\n%s", c, code, want.exit, out)
			continue
		}
		for _, w := range want.want {
			w = strings.ReplaceAll(w, "$HEAD", head)
			if !strings.Contains(string(out), w) {
				t.Errorf("%s: output lacks %q:\n%s", c, w, out)
			}
		}
	}
}

// readmeRepo makes the repository the README's commands run in: the
// project's .dnsctl and examples/dns-config on branch main, in two commits
// (the first without the zone us.corp.internal, so `diff HEAD~1 HEAD` has
// a plan to show).
func readmeRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	runIn(t, dir, "git", "init", "-q", "-b", "main")
	runIn(t, dir, "git", "config", "user.email", "readme@test.invalid")
	runIn(t, dir, "git", "config", "user.name", "README test")
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	runIn(t, dir, "cp", "-r", filepath.Join(root, "examples"), filepath.Join(root, markerName), dir)
	us := filepath.Join("examples", "dns-config", "zones", "us.corp.internal.zone")
	data, err := os.ReadFile(filepath.Join(dir, us))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, us)); err != nil {
		t.Fatal(err)
	}
	runIn(t, dir, "git", "add", "-A")
	runIn(t, dir, "git", "commit", "-q", "-m", "example config")
	if err := os.WriteFile(filepath.Join(dir, us), data, 0o644); err != nil {
		t.Fatal(err)
	}
	runIn(t, dir, "git", "add", "-A")
	runIn(t, dir, "git", "commit", "-q", "-m", "zones: us.corp.internal")
	return dir
}

// markerName is dnsctl's marker at a repository's root (cmd/dnsctl).
const markerName = ".dnsctl"

func runIn(t *testing.T, dir string, argv ...string) string {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}
