// Package corefiletest lets each plugin's tests parse the Corefile examples of
// its README.md, so the documented syntax is the syntax setup accepts.
package corefiletest

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

var fence = regexp.MustCompile("(?s)~~~ corefile\n(.*?)~~~")

// Examples returns the Corefile examples (fenced with "~~~ corefile") of a
// README; it fails the test when there are none.
func Examples(t testing.TB, readme string) []string {
	t.Helper()
	b, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range fence.FindAllStringSubmatch(string(b), -1) {
		out = append(out, m[1])
	}
	if len(out) == 0 {
		t.Fatalf("%s has no ~~~ corefile example", readme)
	}
	return out
}

// Directive returns, for every example, each occurrence of directive inside a
// server block: the directive line and its { ... } block if it has one, ready
// for caddy.NewTestController("dns", text).
func Directive(t testing.TB, readme, directive string) []string {
	t.Helper()
	var out []string
	for _, ex := range Examples(t, readme) {
		out = append(out, blocks(ex, directive)...)
	}
	if len(out) == 0 {
		t.Fatalf("%s: no %q directive in its corefile examples", readme, directive)
	}
	return out
}

// FileDirective is Directive for a Corefile (deploy/ holds the production
// ones), with {$NAME} environment references replaced from env as CoreDNS
// replaces them from the process environment.
func FileDirective(t testing.TB, corefile, directive string, env map[string]string) []string {
	t.Helper()
	b, err := os.ReadFile(corefile)
	if err != nil {
		t.Fatal(err)
	}
	text := envRef.ReplaceAllStringFunc(string(b), func(ref string) string {
		v, ok := env[ref[2:len(ref)-1]]
		if !ok {
			t.Errorf("%s: %s is not set by the test", corefile, ref)
		}
		return v
	})
	out := blocks(text, directive)
	if len(out) == 0 {
		t.Fatalf("%s: no %q directive", corefile, directive)
	}
	return out
}

var envRef = regexp.MustCompile(`\{\$[A-Za-z_][A-Za-z0-9_]*\}`)

func blocks(corefile, directive string) []string {
	var out []string
	lines := strings.Split(corefile, "\n")
	for i := 0; i < len(lines); i++ {
		f := strings.Fields(lines[i])
		if len(f) == 0 || f[0] != directive {
			continue
		}
		text := []string{lines[i]}
		depth := strings.Count(lines[i], "{") - strings.Count(lines[i], "}")
		for depth > 0 && i+1 < len(lines) {
			i++
			text = append(text, lines[i])
			depth += strings.Count(lines[i], "{") - strings.Count(lines[i], "}")
		}
		out = append(out, strings.Join(text, "\n"))
	}
	return out
}
