package cluster

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"strings"
	"time"

	"github.com/gitops-dns/resolverd/cluster/model"
	"github.com/gitops-dns/resolverd/zones"
	"github.com/miekg/dns"
)

// dotPort is the port of DNS over TLS (RFC 7858 3.1): a tls:// target
// without a port.
const dotPort = 853

// maxCAFileSize bounds a tls_ca file (a bundle of a few CAs is kilobytes).
const maxCAFileSize = 1 << 20

// caExpiryWarning: a CA certificate that expires sooner than this is a
// warning, so the renewal lands in git before the targets stop verifying.
const caExpiryWarning = 30 * 24 * time.Hour

// now is the time CA certificates are judged at (tests set it).
var now = time.Now

// parseForwardTarget reads one forward target: an IP literal with an
// optional port (plain DNS, port 53), or tls://ADDR[:PORT]@NAME (DNS over
// TLS, port 853) where NAME is the authentication domain name the target's
// certificate must carry (RFC 8310 section 8, the strict profile: a name
// is required, an unauthenticated encrypted forwarder is not offered).
// name is "" for a plain target.
func parseForwardTarget(s string) (ap netip.AddrPort, name string, err error) {
	rest, ok := strings.CutPrefix(s, "tls://")
	if !ok {
		if strings.Contains(s, "://") {
			return ap, "", errors.New("the only scheme is tls:// (DNS over TLS): tls://198.18.9.1@dns.corp.example")
		}
		ap, err = parseTarget(s)
		return ap, "", err
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return ap, "", errors.New("a tls:// target names the server's certificate name after @ (tls://198.18.9.1@dns.corp.example): RFC 8310 strict profile, a name is required")
	}
	addr, host := rest[:at], rest[at+1:]
	if ap, err = parseTarget(addr); err != nil {
		return ap, "", err
	}
	if _, err := netip.ParseAddr(addr); err == nil {
		ap = netip.AddrPortFrom(ap.Addr(), dotPort) // no port written: 853
	}
	if name, err = tlsName(host); err != nil {
		return netip.AddrPort{}, "", err
	}
	return ap, name, nil
}

// tlsName checks the name after @: a host name (letters, digits, dashes),
// as certificates carry it in their DNS subject alternative names; returned
// in lower case without the final dot, as TLS sends it (RFC 6066 3).
func tlsName(s string) (string, error) {
	n := strings.TrimSuffix(strings.ToLower(s), ".")
	if n == "" {
		return "", errors.New("no certificate name after @")
	}
	if _, err := netip.ParseAddr(n); err == nil {
		return "", fmt.Errorf("%q after @ is an address: name the host name the certificate carries", s)
	}
	if _, ok := dns.IsDomainName(n); !ok || len(n) > 253 {
		return "", fmt.Errorf("%q after @ is not a host name", s)
	}
	for _, label := range strings.Split(n, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return "", fmt.Errorf("%q after @ is not a host name", s)
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "", fmt.Errorf("%q after @ is not a host name (letters, digits, dashes)", s)
			}
		}
	}
	return n, nil
}

// caLoad is one tls_ca file read and judged once, however many rules name it.
type caLoad struct {
	certs  []*x509.Certificate
	digest string
	err    string // why the rule cannot use it, reported at each rule's tls_ca
}

// loadForwardCAs reads the tls_ca file of every forward rule: PEM
// certificates that parse and are valid now. Problems inside the file are
// reported once at the file's lines; a file a rule cannot use (missing, no
// certificate) at the rule's tls_ca. A cluster that names one address
// both as a plain and a tls:// target, or with two names, is refused: the
// resolver knows a server by its address.
func (l *loader) loadForwardCAs(rev *model.Revision) {
	loaded := map[string]*caLoad{}
	for _, c := range rev.Clusters {
		seen := map[netip.AddrPort]string{}
		for ri := range c.Forward {
			r := &c.Forward[ri]
			for i, t := range r.To {
				if prev, ok := seen[t]; ok && prev != r.Target(i) {
					l.errorf(r.ToPos[i], RuleForwardTLS, "forward target %s: the cluster already names %s as %s: one address and port is one server, with one name, in every rule", r.Target(i), t, prev)
				}
				seen[t] = r.Target(i)
			}
			if r.TLSCA == nil {
				continue
			}
			ca := loaded[r.TLSCA.File]
			if ca == nil {
				ca = l.readCAFile(r.TLSCA.File)
				loaded[r.TLSCA.File] = ca
			}
			if ca.err != "" {
				l.errorf(r.TLSCA.Pos, RuleForwardTLS, "tls_ca %s: %s", r.TLSCA.File, ca.err)
				continue
			}
			r.TLSCA.Certs, r.TLSCA.SHA256 = ca.certs, ca.digest
		}
	}
}

// readCAFile parses a tls_ca file; certificates that do not parse or are
// not valid now are reported at their line and left out.
func (l *loader) readCAFile(name string) *caLoad {
	file := l.path(name)
	if _, err := fs.Stat(l.fsys, name); errors.Is(err, fs.ErrNotExist) {
		return &caLoad{err: "no such file in the config folder"}
	}
	data, ok := l.read(name, maxCAFileSize, false)
	if !ok {
		return &caLoad{err: "cannot be read (see the finding on the file)"}
	}
	sum := sha256.Sum256(data)
	out := &caLoad{digest: hex.EncodeToString(sum[:])}
	t := now()
	blocks := 0
	for rest := data; ; {
		start := bytes.Index(rest, []byte("-----BEGIN"))
		if start < 0 {
			break
		}
		line := 1 + bytes.Count(data[:len(data)-len(rest)+start], []byte("\n"))
		pos := zones.Position{File: file, Line: line, Col: 1}
		blk, next := pem.Decode(rest[start:])
		if blk == nil {
			l.errorf(pos, RuleForwardTLS, "a PEM block that does not decode (a missing END line or bad base64)")
			break
		}
		rest = next
		blocks++
		if blk.Type != "CERTIFICATE" {
			if strings.Contains(blk.Type, "PRIVATE KEY") {
				l.errorf(pos, RuleForwardTLS, "%s block in a CA file: a private key never belongs in the config repo (remove it, and replace the key: it is in the git history)", blk.Type)
			} else {
				l.errorf(pos, RuleForwardTLS, "%s block: a CA file holds CERTIFICATE blocks only", blk.Type)
			}
			continue
		}
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			l.errorf(pos, RuleForwardTLS, "certificate does not parse: %v", err)
			continue
		}
		subject := cert.Subject.String()
		switch {
		case t.After(cert.NotAfter):
			l.errorf(pos, RuleForwardTLS, "certificate %q expired on %s: targets signed by it cannot be verified", subject, cert.NotAfter.UTC().Format(time.DateOnly))
			continue
		case t.Before(cert.NotBefore):
			l.errorf(pos, RuleForwardTLS, "certificate %q is not valid before %s", subject, cert.NotBefore.UTC().Format(time.DateTime))
			continue
		case cert.NotAfter.Sub(t) < caExpiryWarning:
			l.warnf(pos, RuleForwardTLS, "certificate %q expires on %s: commit its renewal", subject, cert.NotAfter.UTC().Format(time.DateOnly))
		}
		out.certs = append(out.certs, cert)
	}
	switch {
	case blocks == 0:
		out.err = "no PEM CERTIFICATE block in the file"
	case len(out.certs) == 0:
		out.err = "no usable certificate in the file (see the findings on it)"
	}
	return out
}
