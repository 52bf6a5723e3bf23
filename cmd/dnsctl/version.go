package main

import (
	"fmt"
	"runtime/debug"
)

func init() {
	register(command{
		name:     "version",
		usage:    "version",
		summary:  "the version of dnsctl: module version, commit, commit time, Go (also dnsctl --version)",
		examples: []string{"dnsctl version", "dnsctl --version"},
		exits:    "(not used)",
		run:      runVersion,
	})
}

func runVersion(e *env, args []string) int {
	fs, _ := e.flags("version", "")
	pos, code, ok := e.parseAll(fs, args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return e.badArgs("no arguments, got %d", len(pos))
	}
	bi, _ := debug.ReadBuildInfo()
	fmt.Fprintln(e.stdout, versionLine(bi))
	return exitOK
}

// versionLine says which build this is from the module and VCS stamps the
// go command records (go build and go run in a git checkout stamp the
// commit; `go install module@version` the module version).
func versionLine(bi *debug.BuildInfo) string {
	if bi == nil {
		return "dnsctl (no build information)"
	}
	version := bi.Main.Version
	if version == "" {
		version = "(devel)"
	}
	var rev, when, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = " (modified)"
			}
		}
	}
	line := "dnsctl " + version
	if rev != "" {
		line += " commit " + rev + modified
		if when != "" {
			line += " of " + when
		}
	}
	return line + " " + bi.GoVersion
}
