// Package tls is the CoreDNS plugin that gives a server block's tls:// (DNS
// over TLS, RFC 7858) and https:// (DNS over HTTPS, RFC 8484) listeners
// their certificate, from a certificate and a key file: read again when
// either file changes, so a renewed certificate is served without a
// restart, and refused with an error naming the file when it is unreadable
// or expired. The block's plain DNS keeps serving whatever the files hold.
//
// It takes the place of CoreDNS's own tls plugin (same directive, same
// `tls CERT KEY` syntax), which loads the files once at startup, fails the
// whole server when they are unreadable, and links an ACME client this
// product does not use.
package tls

import (
	ctls "crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// checkEvery is how often a handshake may look at the files again (a stat
// of each): renewals are picked up within it, handshakes never wait on more.
const checkEvery = time.Second

// maxFileSize bounds what is read from either file.
const maxFileSize = 1 << 20

// CertFiles serves the certificate of a certificate file and a key file,
// reloading them when their size or modification time changes.
type CertFiles struct {
	Cert, Key string
	Now       func() time.Time                 // tests replace it
	Logf      func(format string, args ...any) // errors, once per distinct error
	Infof     func(format string, args ...any) // a (re)loaded certificate

	mu      sync.Mutex
	checked time.Time
	stamp   [2]fileStamp
	cert    *ctls.Certificate
	leaf    *x509.Certificate
	err     error
	warned  *x509.Certificate // the leaf whose invalidity was logged
}

type fileStamp struct {
	size int64
	mod  time.Time
}

// GetCertificate is tls.Config.GetCertificate: the current certificate, or
// the error that says which file is wrong (the handshake fails with it).
func (c *CertFiles) GetCertificate(*ctls.ClientHelloInfo) (*ctls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.checked.IsZero() || now.Sub(c.checked) >= checkEvery {
		c.checked = now
		c.reload()
	}
	if c.err != nil {
		return nil, c.err
	}
	var err error
	switch {
	case now.After(c.leaf.NotAfter):
		err = fmt.Errorf("certificate %s expired at %s: renew it (the key is %s)", c.Cert, c.leaf.NotAfter.UTC().Format(time.RFC3339), c.Key)
	case now.Before(c.leaf.NotBefore):
		err = fmt.Errorf("certificate %s is not valid before %s", c.Cert, c.leaf.NotBefore.UTC().Format(time.RFC3339))
	default:
		return c.cert, nil
	}
	// Refused rather than served: clients would refuse it anyway (RFC 5280
	// section 4.1.2.5), and an error naming the file tells the operator
	// what to renew. Logged once per certificate, not per handshake.
	if c.warned != c.leaf && c.Logf != nil {
		c.Logf("%v", err)
	}
	c.warned = c.leaf
	return nil, err
}

// Load reads the files now (setup calls it to report problems at start).
func (c *CertFiles) Load() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.checked = c.now()
	c.reload()
	if c.err == nil && c.now().After(c.leaf.NotAfter) {
		return fmt.Errorf("certificate %s expired at %s: renew it", c.Cert, c.leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return c.err
}

// NotAfter is when the served certificate expires (zero when none).
func (c *CertFiles) NotAfter() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.leaf == nil {
		return time.Time{}
	}
	return c.leaf.NotAfter
}

func (c *CertFiles) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// reload reads both files when either changed. A file that cannot be read
// or does not parse makes the error current: a half-renewed pair (new
// certificate, old key) must not be served, and the operator must see
// which file to fix; the previous certificate is not kept, since it may be
// the one being replaced for a reason (a revoked key).
func (c *CertFiles) reload() {
	var st [2]fileStamp
	for i, name := range []string{c.Cert, c.Key} {
		fi, err := os.Stat(name)
		if err != nil {
			c.fail(fmt.Errorf("cannot read %s: %w", name, err))
			return
		}
		if !fi.Mode().IsRegular() || fi.Size() > maxFileSize {
			c.fail(fmt.Errorf("%s is not a regular file of at most %d bytes", name, maxFileSize))
			return
		}
		st[i] = fileStamp{fi.Size(), fi.ModTime()}
	}
	if st == c.stamp && (c.cert != nil || c.err != nil) {
		return
	}
	c.stamp = st
	certPEM, err := os.ReadFile(c.Cert)
	if err != nil {
		c.fail(fmt.Errorf("cannot read %s: %w", c.Cert, err))
		return
	}
	keyPEM, err := os.ReadFile(c.Key)
	if err != nil {
		c.fail(fmt.Errorf("cannot read %s: %w", c.Key, err))
		return
	}
	pair, err := ctls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		c.fail(fmt.Errorf("certificate %s with key %s: %w", c.Cert, c.Key, err))
		return
	}
	if pair.Leaf == nil {
		if pair.Leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			c.fail(fmt.Errorf("certificate %s: %w", c.Cert, err))
			return
		}
	}
	c.cert, c.leaf, c.err = &pair, pair.Leaf, nil
	if c.Infof != nil {
		c.Infof("loaded certificate %s (%s, expires %s)", c.Cert, pair.Leaf.Subject, pair.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
}

func (c *CertFiles) fail(err error) {
	changed := c.err == nil || c.err.Error() != err.Error()
	c.cert, c.leaf, c.err = nil, nil, err
	c.stamp = [2]fileStamp{}
	if changed && c.Logf != nil {
		c.Logf("%v", err)
	}
}

var errNoFiles = errors.New("tls needs a certificate file and a key file: tls CERT KEY")
