package gittree

import (
	"bytes"
	"strings"
	"testing"
)

// readBlob returns what io.ReadAll of the blob's declared size returns,
// whatever the reader holds against that size.
func TestReadBlob(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content string
		size    int64
		want    string
	}{
		{"exact", "a IN A 10.0.0.1\n", 16, "a IN A 10.0.0.1\n"},
		{"shorter than declared", "a IN A", 16, "a IN A"},
		{"empty", "", 0, ""},
		{"empty, declared longer", "", 5, ""},
		{"longer than declared", "a IN A 10.0.0.1\n", 4, "a IN"},
		{"beyond the presize limit", "abc", presizeLimit + 1, "abc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readBlob(strings.NewReader(tc.content), tc.size)
			if err != nil || !bytes.Equal(got, []byte(tc.want)) {
				t.Errorf("readBlob = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
