package main

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"testing"
)

// The built-in bootstrap must be the documented one: README and operators
// read Corefile.example, `go run ./cmd/resolverd` runs Corefile.default.
func TestDefaultCorefileIsTheExample(t *testing.T) {
	example, err := os.ReadFile("../../Corefile.example")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(example, defaultCorefile) {
		t.Fatal("cmd/resolverd/Corefile.default differs from Corefile.example: run `cp Corefile.example cmd/resolverd/Corefile.default`")
	}
}

func TestDirectivesOrder(t *testing.T) {
	pos := map[string]int{}
	for i, d := range directives {
		pos[d] = i
	}
	// gitops must see every query first (version.config), fallback must wrap
	// authority and recursor, recursor must be last: it answers everything.
	order := []string{"gitops", "fallback", "authority", "recursor"}
	for i := 1; i < len(order); i++ {
		a, b := order[i-1], order[i]
		if _, ok := pos[a]; !ok {
			t.Fatalf("directive %q missing", a)
		}
		if pos[a] >= pos[b] {
			t.Errorf("directive %q must come before %q", a, b)
		}
	}
	if directives[len(directives)-1] != "recursor" {
		t.Errorf("recursor must be the last directive, got %q", directives[len(directives)-1])
	}
}

// `resolverd -help` must name the default that applies: the built-in
// example, not coremain's ./Corefile.
func TestHelpNamesTheBuiltInDefault(t *testing.T) {
	f := flag.Lookup("conf")
	if f == nil {
		t.Fatal("no -conf flag")
	}
	if f.Usage != confUsage || !strings.Contains(f.Usage, "Corefile.example") {
		t.Fatalf("-conf help = %q, want it to name the built-in Corefile.example", f.Usage)
	}
}
