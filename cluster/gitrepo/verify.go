package gitrepo

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Keyring is a set of trusted OpenPGP public keys (an armored keyring).
type Keyring struct {
	Path     string
	armored  string
	entities openpgp.EntityList
}

// LoadKeyring reads an armored OpenPGP keyring; it must hold at least one key.
func LoadKeyring(path string) (*Keyring, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("trust: %w", err)
	}
	return ParseKeyring(path, data)
}

// ParseKeyring parses an armored keyring; name is used in errors.
func ParseKeyring(name string, data []byte) (*Keyring, error) {
	el, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("trust %s: not an armored OpenPGP keyring: %w", name, err)
	}
	if len(el) == 0 {
		return nil, fmt.Errorf("trust %s: no keys", name)
	}
	return &Keyring{Path: name, armored: string(data), entities: el}, nil
}

// KeyIDs returns the hex ids of the primary keys, for logs.
func (k *Keyring) KeyIDs() []string {
	ids := make([]string, 0, len(k.entities))
	for _, e := range k.entities {
		ids = append(ids, e.PrimaryKey.KeyIdString())
	}
	return ids
}

// Why a signature check refused a commit.
const (
	ReasonUnsigned  = "Unsigned"           // the commit carries no signature
	ReasonUntrusted = "UntrustedSignature" // signed, by a key not in the keyring
	ReasonInvalid   = "InvalidSignature"   // the signature does not match the commit
)

// SignatureError is a refused commit signature.
type SignatureError struct {
	Commit string
	Reason string // ReasonUnsigned, ReasonUntrusted or ReasonInvalid
	Err    error
}

func (e *SignatureError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("commit %s: %s: %v", e.Commit, e.Reason, e.Err)
	}
	return fmt.Sprintf("commit %s: %s", e.Commit, e.Reason)
}

func (e *SignatureError) Unwrap() error { return e.Err }

// Verify checks that c is signed by a key of the keyring and returns a
// description of the signer ("<key id> <identity>").
func (k *Keyring) Verify(c *object.Commit) (string, error) {
	id := c.Hash.String()
	if strings.TrimSpace(c.PGPSignature) == "" {
		return "", &SignatureError{Commit: id, Reason: ReasonUnsigned}
	}
	if !strings.Contains(c.PGPSignature, "BEGIN PGP SIGNATURE") {
		return "", &SignatureError{Commit: id, Reason: ReasonUntrusted, Err: errors.New("not an OpenPGP signature")}
	}
	e, err := c.Verify(k.armored)
	if err != nil {
		reason := ReasonInvalid
		if errors.Is(err, pgperrors.ErrUnknownIssuer) {
			reason = ReasonUntrusted
		}
		return "", &SignatureError{Commit: id, Reason: reason, Err: err}
	}
	signer := e.PrimaryKey.KeyIdString()
	for name := range e.Identities {
		signer += " " + name
		break
	}
	return signer, nil
}
