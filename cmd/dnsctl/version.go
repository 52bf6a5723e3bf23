package main

import (
	"fmt"
	"runtime"

	"github.com/gitops-dns/resolverd/internal/version"
)

func init() {
	register(command{
		name:    "version",
		usage:   "version",
		summary: "print the product version (the one resolverd reports)",
		run:     runVersion,
	})
}

// runVersion prints what resolverd -version prints for the same build: the
// product version, then platform, Go version and commit.
func runVersion(e *env, args []string) int {
	if len(args) > 0 {
		fmt.Fprintf(e.stderr, "dnsctl version: no arguments expected, got %q\n", args)
		return exitCannotRun
	}
	rev := version.Revision()
	if rev == "" {
		rev = "commit unknown"
	}
	fmt.Fprintf(e.stdout, "dnsctl %s\n%s/%s, %s, %s\n", version.String(), runtime.GOOS, runtime.GOARCH, runtime.Version(), rev)
	return exitOK
}
