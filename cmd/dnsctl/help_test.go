package main

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// TestHelp: every subcommand's --help (and `dnsctl help CMD`) has a usage
// line, its arguments, flags, examples and exit status, on stdout with
// exit 0; the texts are golden files (go test -update rewrites them).
func TestHelp(t *testing.T) {
	out, errOut, code := dnsctl(t, "", "--help")
	if code != exitOK || errOut != "" {
		t.Fatalf("--help: exit %d, stderr %q", code, errOut)
	}
	golden(t, "help.txt", out)
	for _, name := range commandNames() {
		t.Run(name, func(t *testing.T) {
			out, errOut, code := dnsctl(t, "", name, "--help")
			if code != exitOK || errOut != "" {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			for _, want := range []string{"usage: dnsctl " + name, "\nflags:\n", "\nexamples:\n  ", "dnsctl " + name, "\nexit status: 0 "} {
				if !strings.Contains(out, want) {
					t.Errorf("--help lacks %q:\n%s", want, out)
				}
			}
			if c := commands[name]; strings.ContainsAny(c.usage, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") && len(c.args) == 0 && name != "verify" {
				t.Errorf("usage %q names arguments but --help explains none", c.usage)
			}
			golden(t, "help-"+name+".txt", out)
			viaHelp, _, code := dnsctl(t, "", "help", name)
			if code != exitOK || viaHelp != out {
				t.Errorf("dnsctl help %s: exit %d, differs from --help", name, code)
			}
		})
	}
}

// TestBadArguments: a wrong count of arguments is one line saying what is
// wrong plus the usage line, on stderr, exit 2; a bad flag likewise.
func TestBadArguments(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"diff", "HEAD"}, "dnsctl diff: want BASE and HEAD, got 1 revisions\nusage: dnsctl diff [--format text|markdown|json] BASE HEAD (dnsctl diff --help for more)\n"},
		{[]string{"check", "a", "b"}, "dnsctl check: one revision at most, got 2\nusage: dnsctl check"},
		{[]string{"graph", "--bogus"}, "flag provided but not defined: -bogus\nusage: dnsctl graph [--format dot|svg] [REV] (dnsctl graph --help for more)\n"},
		{[]string{"frobnicate"}, "dnsctl: unknown command \"frobnicate\" (dnsctl --help lists them)\n"},
	} {
		out, errOut, code := dnsctl(t, t.TempDir(), tc.args...)
		if code != exitCannotRun || out != "" || !strings.HasPrefix(errOut, tc.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and %q", tc.args, code, out, errOut, tc.want)
		}
	}
}

// TestVersionFlag: --version is the version command.
func TestVersionFlag(t *testing.T) {
	a, _, code1 := dnsctl(t, "", "--version")
	b, _, code2 := dnsctl(t, "", "version")
	if code1 != exitOK || code2 != exitOK || a != b || !strings.HasPrefix(a, "dnsctl ") {
		t.Fatalf("--version %q (exit %d), version %q (exit %d)", a, code1, b, code2)
	}
}

// TestBashCompletion runs the generated script in bash and asks it what
// completes a few command lines.
func TestBashCompletion(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	script, _, code := dnsctl(t, "", "completion", "bash")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	golden(t, "completion.bash", script)
	for _, tc := range []struct {
		line string // the words so far; the last one is completed
		want string
	}{
		{"dnsctl ve", "verify version"},
		{"dnsctl -C dns ch", "check"},
		{"dnsctl check --f", "--format"},
		{"dnsctl diff --format ", "text markdown json"},
		{"dnsctl verify --format m", "markdown"},
		{"dnsctl promote --after", "--after-bake"},
		{"dnsctl help gr", "graph"},
		{"dnsctl completion ", "bash"},
	} {
		words := strings.Fields(tc.line)
		if strings.HasSuffix(tc.line, " ") {
			words = append(words, "")
		}
		quoted := make([]string, len(words))
		for i, w := range words {
			quoted[i] = "'" + w + "'"
		}
		prog := script + "\nCOMP_WORDS=(" + strings.Join(quoted, " ") + "); COMP_CWORD=" + strconv.Itoa(len(words)-1) + "; _dnsctl; echo \"${COMPREPLY[*]}\"\n"
		cmd := exec.Command(bash, "--norc", "--noprofile", "-c", prog)
		cmd.Dir = t.TempDir() // no git repository: no revisions offered
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%q: %v: %s", tc.line, err, out)
		}
		if got := strings.TrimSpace(string(out)); got != tc.want {
			t.Errorf("%q completes to %q, want %q", tc.line, got, tc.want)
		}
	}
}
