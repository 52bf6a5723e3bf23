package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gitops-dns/resolverd/internal/version"
)

func TestVersion(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"version"}, &out, &errb, t.TempDir()); code != exitOK {
		t.Fatalf("dnsctl version: exit %d, stderr %q", code, errb.String())
	}
	first, _, _ := strings.Cut(out.String(), "\n")
	if want := "dnsctl " + version.String(); first != want {
		t.Errorf("first line %q, want %q", first, want)
	}
	if code := run([]string{"version", "extra"}, &out, &errb, ""); code != exitCannotRun {
		t.Errorf("dnsctl version extra: exit %d, want %d", code, exitCannotRun)
	}
}
