package tls

import (
	"strings"
	"testing"
)

var testDirectives = []string{"tls", "bind", "gitops", "recursor", "import"}

func TestCheckEncryptedBlocks(t *testing.T) {
	for _, tc := range []struct {
		name, corefile string
		want           []string // each in the error; none = no error
	}{
		{"plain only", ".:53 {\n    recursor\n}\n", nil},
		{"tls with the directive", ".:53 tls://.:853 https://.:443 {\n    tls a.crt a.key\n    recursor\n}\n", nil},
		{"tls without", "# bootstrap\n.:53 {\n    recursor\n}\n\ntls://.:853 {\n    bind 127.0.0.1\n    recursor\n}\n",
			[]string{"Corefile:6: server block tls://.:853 has no tls directive: address tls://.:853 would serve DNS unencrypted"}},
		{"https among plain addresses", ".:53,\nhttps://.:443 {\n    recursor\n}\n",
			[]string{"Corefile:2: server block .:53 https://.:443 has no tls directive: address https://.:443"}},
		{"two blocks, both reported", "tls://.:853 {\n    recursor\n}\nquic://.:853 {\n    recursor\n}\n",
			[]string{"Corefile:1: server block tls://.:853", "Corefile:4: server block quic://.:853"}},
		{"the directive through a snippet", "(enc) {\n    tls a.crt a.key\n}\ntls://.:853 {\n    import enc\n    recursor\n}\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckEncryptedBlocks("Corefile", []byte(tc.corefile), testDirectives)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error for a block that would serve in clear text")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}
