package tls

import (
	"os"
	"regexp"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
)

func TestSetup(t *testing.T) {
	for _, tc := range []struct {
		input string
		ok    bool
	}{
		{"tls cert.pem key.pem", true},
		{"tls /missing/cert.pem /missing/key.pem", true}, // logged, plain DNS serves
		{"tls cert.pem", false},
		{"tls a b c", false},
		{"tls a b {\n client_auth require\n}", false},
		{"tls a b\ntls c d", false},
	} {
		c := caddy.NewTestController("dns", tc.input)
		err := setup(c)
		if (err == nil) != tc.ok {
			t.Errorf("%q: %v, want ok=%v", tc.input, err, tc.ok)
		}
		if err == nil {
			cfg := dnsserver.GetConfig(c)
			if cfg.TLSConfig == nil || cfg.TLSConfig.GetCertificate == nil || cfg.TLSConfig.MinVersion == 0 {
				t.Errorf("%q: TLS config %+v, want GetCertificate and a minimum version", tc.input, cfg.TLSConfig)
			}
		}
	}
}

// The README's Corefile example is valid for this plugin.
func TestReadmeExample(t *testing.T) {
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*(tls .*)$`).FindAllStringSubmatch(string(data), -1)
	found := false
	for _, line := range m {
		if line[1] == "tls /etc/resolverd/tls/dns.crt /etc/resolverd/tls/dns.key" {
			found = true
			if err := setup(caddy.NewTestController("dns", line[1])); err != nil {
				t.Errorf("README example %q: %v", line[1], err)
			}
		}
	}
	if !found {
		t.Fatal("README.md has no tls line in its Corefile example")
	}
}
