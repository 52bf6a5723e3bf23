package cluster

import (
	"testing"
)

func TestCheckGood(t *testing.T) {
	rev, fs := Load(mapFS(goodRepo), "")
	fs = append(fs, Check(rev, nil)...)
	if len(fs) != 0 {
		t.Fatalf("findings on the good repo:\n%s", findingStrings(fs))
	}
}
