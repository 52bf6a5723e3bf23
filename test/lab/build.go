package lab

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// BuildCommand builds ./cmd/<name> of the module into dir. It returns the
// binary, or "" and why: "skip: ..." when the command has no Go files yet.
func BuildCommand(moduleRoot, dir, name string) (string, string) {
	src := filepath.Join(moduleRoot, "cmd", name)
	files, _ := filepath.Glob(filepath.Join(src, "*.go"))
	if len(files) == 0 {
		return "", "skip: cmd/" + name + " has no Go files yet"
	}
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", out, "./cmd/"+name)
	cmd.Dir = moduleRoot
	cmd.Env = os.Environ()
	b, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Sprintf("go build ./cmd/%s: %v: %s", name, err, strings.TrimSpace(string(b)))
	}
	return out, ""
}
