package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coredns/caddy/caddyfile"
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

// The production Corefiles of deploy/ parse as Corefiles and use only
// directives this binary has (a typo would stop the node at start).
func TestDeployCorefilesParse(t *testing.T) {
	t.Setenv("POD_NAME", "resolverd-0")
	t.Setenv("NODE_NAME", "k8s-node-1")
	t.Setenv("HOST_IP", "198.18.1.1")
	files, err := filepath.Glob("../../deploy/Corefile")
	if err != nil {
		t.Fatal(err)
	}
	more, _ := filepath.Glob("../../deploy/kubernetes/*/Corefile")
	files = append(files, more...)
	more, _ = filepath.Glob("../../deploy/kubernetes/overlays/*/Corefile")
	files = append(files, more...)
	if len(files) < 3 {
		t.Fatalf("deploy Corefiles: %v", files)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		blocks, err := caddyfile.Parse(f, bytes.NewReader(data), directives)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if len(blocks) != 1 || len(blocks[0].Tokens["gitops"]) == 0 || len(blocks[0].Tokens["recursor"]) == 0 {
			t.Errorf("%s: want one server block with gitops and recursor", f)
		}
		for _, b := range blocks {
			for _, k := range b.Keys {
				if strings.Contains(k, "{$") {
					t.Errorf("%s: server key %q: an environment reference left unreplaced", f, k)
				}
			}
		}
	}
}
