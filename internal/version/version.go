// Package version owns the one product version every binary and endpoint
// reports (resolverd -version, dnsctl version, GET /status, the
// resolverd_build_info metric, CHAOS version.server.): the release in the
// VERSION file next to this one, plus the commit the binary was built from.
//
// The commit comes from -ldflags (make build, the container image), else
// from the build info Go stamps in a plain `go build` of a clone; `go run`
// stamps none, so it reports the release alone.
package version

import (
	_ "embed"
	"runtime/debug"
	"strings"
	"sync"
)

//go:embed VERSION
var release string

// Set with -ldflags -X (see the Makefile): the full commit id and "true"
// when the tree had uncommitted changes.
var revision, modified string

var stamp = sync.OnceValues(func() (string, bool) {
	if revision != "" {
		return revision, modified == "true"
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "", false
	}
	return fromSettings(bi.Settings)
})

// fromSettings reads the commit and the modified flag from Go's VCS stamp.
func fromSettings(settings []debug.BuildSetting) (rev string, dirty bool) {
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	return rev, dirty
}

// Release is the product release, e.g. "0.1.0".
func Release() string { return strings.TrimSpace(release) }

// Revision is the full commit id the binary was built from, "" when unknown.
func Revision() string { r, _ := stamp(); return r }

// Modified reports whether the tree had uncommitted changes at build time.
func Modified() bool { _, m := stamp(); return m }

// String is the version as people and probes see it, the release with the
// commit as SemVer build metadata: "0.1.0+1a2b3c4d5e6f", "0.1.0+1a2b3c4d5e6f.modified",
// or "0.1.0" when the build carries no commit.
func String() string {
	r, m := stamp()
	return format(Release(), r, m)
}

func format(rel, rev string, dirty bool) string {
	if rev == "" {
		return rel
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	s := rel + "+" + rev
	if dirty {
		s += ".modified"
	}
	return s
}
