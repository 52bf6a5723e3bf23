package layers

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/gitops-dns/resolverd/"

type pkg struct {
	path    string   // relative to the module
	name    string   // package name
	imports []string // non-test imports
	deps    []string // every package linked, transitively
}

// list runs `go list` on the module (from its root, two folders up).
func list(t *testing.T) map[string]pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}}|{{.Name}}|{{join .Imports \",\"}}|{{join .Deps \",\"}}", "./...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string]pkg{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "|")
		if len(f) != 4 {
			t.Fatalf("go list line %q", line)
		}
		p := pkg{path: strings.TrimPrefix(f[0], module), name: f[1], imports: split(f[2]), deps: split(f[3])}
		pkgs[p.path] = p
	}
	return pkgs
}

func split(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// testSupport says whether p exists for tests only (gittest, stagingtest,
// the lab, this package): those may import testing.
func testSupport(p pkg) bool {
	return strings.HasSuffix(p.name, "test") || strings.HasPrefix(p.path, "test/") || p.path == "internal/layers"
}

func TestLayers(t *testing.T) {
	pkgs := list(t)
	if _, ok := pkgs["fastpath"]; !ok {
		t.Fatal("go list did not list fastpath")
	}
	for _, d := range pkgs["fastpath"].deps {
		if strings.Contains(d, "go-git") || strings.Contains(d, "yaml") {
			t.Errorf("the hot path links %s (fastpath must depend on node and cluster/model only)", d)
		}
	}
	for _, p := range pkgs {
		plugin, _, _ := strings.Cut(strings.TrimPrefix(p.path, "plugins/"), "/")
		for _, imp := range p.imports {
			rel, ours := strings.CutPrefix(imp, module)
			switch {
			case imp == "testing" && !testSupport(p):
				t.Errorf("%s imports testing outside its tests", p.path)
			case strings.HasPrefix(imp, "github.com/coredns/") && !strings.HasPrefix(p.path, "plugins/") && !strings.HasPrefix(p.path, "cmd/") && !strings.HasPrefix(p.path, "test/"):
				t.Errorf("%s imports CoreDNS (%s): only plugins/ and cmd/ may", p.path, imp)
			case ours && strings.HasPrefix(p.path, "plugins/") && strings.HasPrefix(rel, "plugins/") &&
				!strings.HasPrefix(rel, "plugins/internal/") && !strings.HasPrefix(rel, "plugins/"+plugin):
				t.Errorf("plugin %s imports plugin %s: share through node or plugins/internal instead", p.path, rel)
			}
		}
	}
}

// Every test binary that links the resolver keeps its packets off the real
// internet: one of its test files sets resolver.DestinationCheck (before,
// the resolver asked testing.Testing() itself, from production code).
func TestTestsGuardDestinations(t *testing.T) {
	cmd := exec.Command("go", "list", "-test", "-f", "{{.ImportPath}}|{{.Dir}}|{{join .TestGoFiles \",\"}}|{{join .XTestGoFiles \",\"}}|{{join .Deps \",\"}}", "./...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "|")
		if len(f) != 5 {
			continue
		}
		// Only the test variants of the packages themselves: "p [p.test]"
		// and "p_test [p.test]".
		name, variant, _ := strings.Cut(f[0], " [")
		if variant != strings.TrimSuffix(name, "_test")+".test]" {
			continue
		}
		links := false
		for _, d := range split(f[4]) {
			if d == module+"resolver" {
				links = true
			}
		}
		if !links {
			continue
		}
		checked++
		found := false
		for _, name := range append(split(f[2]), split(f[3])...) {
			data, err := os.ReadFile(filepath.Join(f[1], name))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(data), "DestinationCheck = ") {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: its tests link the resolver but none sets resolver.DestinationCheck", f[0])
		}
	}
	if checked == 0 {
		t.Fatal("no test binary links the resolver: the check checks nothing")
	}
}
