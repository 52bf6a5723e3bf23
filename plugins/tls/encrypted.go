package tls

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/coredns/caddy"
	"github.com/coredns/caddy/caddyfile"
	"github.com/coredns/coredns/plugin"
)

// encryptedSchemes are the server addresses whose listener encrypts only
// when the block configures TLS: CoreDNS's tls:// server wraps its
// listener in TLS only when the block has a TLS config
// (core/dnsserver/server_tls.go, "if s.tlsConfig != nil"), and its
// https:// server then serves plain HTTP. Without the directive an address
// the operator wrote as encrypted serves DNS in clear text, silently.
var encryptedSchemes = []string{"tls://", "https://", "https3://", "quic://"}

func init() {
	// After the tls directive ran for every block: a block that needed it
	// and has none stops the start (and a reload) with the Corefile line.
	caddy.RegisterParsingCallback("dns", pluginName, func(caddy.Context) error {
		insts := caddy.Instances()
		if len(insts) == 0 {
			return nil
		}
		// The instance being started is the last one: caddy adds it to
		// the list before executing its directives.
		in := insts[len(insts)-1].Caddyfile()
		if in == nil {
			return nil
		}
		if err := CheckEncryptedBlocks(in.Path(), in.Body(), caddy.ValidDirectives("dns")); err != nil {
			return plugin.Error(pluginName, err)
		}
		return nil
	})
}

// CheckEncryptedBlocks returns an error naming the file and line of every
// server block of the Corefile body with a tls://, https://, https3:// or
// quic:// address and no tls directive.
func CheckEncryptedBlocks(file string, body []byte, directives []string) error {
	blocks, err := caddyfile.Parse(file, bytes.NewReader(body), directives)
	if err != nil {
		return nil // CoreDNS reports the syntax error itself
	}
	lines := keyLines(file, body)
	var errs []error
	for _, b := range blocks {
		if _, ok := b.Tokens[pluginName]; ok {
			continue
		}
		for _, k := range b.Keys {
			if !encrypted(k) {
				continue
			}
			where := file
			if l, ok := lines[k]; ok {
				where = fmt.Sprintf("%s:%d", file, l)
			}
			errs = append(errs, fmt.Errorf("%s: server block %s has no tls directive: address %s would serve DNS unencrypted; add `tls CERT KEY` to the block", where, strings.Join(b.Keys, " "), k))
			break
		}
	}
	return errors.Join(errs...)
}

func encrypted(key string) bool {
	k := strings.ToLower(key)
	for _, s := range encryptedSchemes {
		if strings.HasPrefix(k, s) {
			return true
		}
	}
	return false
}

// keyLines maps each server block address of body (a token outside every
// brace) to the line it is first written on.
func keyLines(file string, body []byte) map[string]int {
	d := caddyfile.NewDispenser(file, bytes.NewReader(body))
	lines := map[string]int{}
	depth := 0
	for d.Next() { // bounded by the file's tokens
		switch v := d.Val(); {
		case v == "{":
			depth++
		case v == "}":
			depth--
		case depth == 0:
			k := strings.TrimSuffix(v, ",")
			if _, ok := lines[k]; !ok {
				lines[k] = d.Line()
			}
		}
	}
	return lines
}
