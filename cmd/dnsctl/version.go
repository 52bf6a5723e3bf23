package main

import (
	"fmt"
	"runtime"

	"github.com/gitops-dns/resolverd/internal/version"
)

func init() {
	register(command{
		name:     "version",
		usage:    "version",
		summary:  "print the product version (the one resolverd reports), platform, Go and commit (also dnsctl --version)",
		examples: []string{"dnsctl version", "dnsctl --version"},
		exits:    "(not used)",
		run:      runVersion,
	})
}

// runVersion prints what resolverd -version prints for the same build: the
// product version, then platform, Go version and commit.
func runVersion(e *env, args []string) int {
	fs, _ := e.flags("version", "")
	pos, code, ok := e.parseAll(fs, args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return e.badArgs("no arguments, got %d", len(pos))
	}
	rev := version.Revision()
	if rev == "" {
		rev = "commit unknown"
	}
	fmt.Fprintf(e.stdout, "dnsctl %s\n%s/%s, %s, %s\n", version.String(), runtime.GOOS, runtime.GOARCH, runtime.Version(), rev)
	return exitOK
}
