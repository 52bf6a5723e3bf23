package tls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// selfSigned returns a PEM certificate and key valid from nb to na.
func selfSigned(t *testing.T, serial int64, nb, na time.Time) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "dns.test"}, NotBefore: nb, NotAfter: na}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func TestCertFiles(t *testing.T) {
	now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	good, goodKey := selfSigned(t, 1, now.Add(-time.Hour), now.Add(time.Hour))
	_, otherKey := selfSigned(t, 2, now.Add(-time.Hour), now.Add(time.Hour))
	expired, expiredKey := selfSigned(t, 3, now.Add(-2*time.Hour), now.Add(-time.Hour))
	future, futureKey := selfSigned(t, 4, now.Add(time.Hour), now.Add(2*time.Hour))
	for _, tc := range []struct {
		name      string
		cert, key []byte // nil: file missing
		wantErr   string // "" = served; else a part of the error, %s = the cert file
	}{
		{"valid", good, goodKey, ""},
		{"missing certificate", nil, goodKey, "cannot read {cert}"},
		{"missing key", good, nil, "cannot read {key}"},
		{"key of another certificate", good, otherKey, "certificate {cert} with key {key}: tls: private key does not match public key"},
		{"not PEM", []byte("hello"), goodKey, "certificate {cert} with key {key}"},
		{"expired", expired, expiredKey, "certificate {cert} expired at"},
		{"not yet valid", future, futureKey, "certificate {cert} is not valid before"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cf := &CertFiles{Cert: filepath.Join(dir, "c.pem"), Key: filepath.Join(dir, "k.pem"), Now: func() time.Time { return now }}
			if tc.cert != nil {
				os.WriteFile(cf.Cert, tc.cert, 0o600)
			}
			if tc.key != nil {
				os.WriteFile(cf.Key, tc.key, 0o600)
			}
			var logged []string
			cf.Logf = func(f string, a ...any) { logged = append(logged, f) }
			c, err := cf.GetCertificate(nil)
			want := strings.NewReplacer("{cert}", cf.Cert, "{key}", cf.Key).Replace(tc.wantErr)
			switch {
			case tc.wantErr == "" && (err != nil || c == nil):
				t.Fatalf("not served: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), want)):
				t.Fatalf("error %v, want one containing %q", err, want)
			}
			cf.GetCertificate(nil)
			if tc.wantErr != "" && len(logged) != 1 {
				t.Errorf("logged %d times for two handshakes, want once", len(logged))
			}
		})
	}
}

// A renewal is picked up after checkEvery; a renewal in progress (the key
// written, not yet its certificate) is refused, not half served.
func TestCertFilesReload(t *testing.T) {
	now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	cf := &CertFiles{Cert: filepath.Join(dir, "c.pem"), Key: filepath.Join(dir, "k.pem"), Now: func() time.Time { return now }}
	c1, k1 := selfSigned(t, 1, now.Add(-time.Hour), now.Add(time.Hour))
	c2, k2 := selfSigned(t, 2, now.Add(-time.Hour), now.Add(48*time.Hour))
	os.WriteFile(cf.Cert, c1, 0o600)
	os.WriteFile(cf.Key, k1, 0o600)
	serial := func() int64 {
		c, err := cf.GetCertificate(nil)
		if err != nil {
			return -1
		}
		return c.Leaf.SerialNumber.Int64()
	}
	if s := serial(); s != 1 {
		t.Fatalf("serial %d, want 1", s)
	}
	os.WriteFile(cf.Key, k2, 0o600)
	if s := serial(); s != 1 {
		t.Errorf("serial %d within checkEvery of the last look, want 1 (the files are not read per handshake)", s)
	}
	now = now.Add(checkEvery)
	if s := serial(); s != -1 {
		t.Errorf("half a renewal (new key, old certificate) served serial %d, want a refusal", s)
	}
	os.WriteFile(cf.Cert, c2, 0o600)
	now = now.Add(checkEvery)
	if s := serial(); s != 2 {
		t.Errorf("serial %d after the renewal, want 2", s)
	}
	if got := cf.NotAfter(); !got.Equal(now.Add(-2 * checkEvery).Add(48 * time.Hour).Truncate(time.Second)) {
		t.Errorf("NotAfter %v", got)
	}
}
