// Package gitrepo owns the node's side of git: remotes (local path, file://,
// git://, https://, ssh://) and their authentication, fetching one tracked ref
// with a deadline into a bare repository kept in a state directory, the last
// known good revision recorded there, detection of a corrupted state
// directory, classification of fetch errors, back-off with jitter and
// verification of commit signatures against an OpenPGP keyring.
//
// It knows nothing of CoreDNS, so dnsctl and tests use it as well as the
// gitops plugin. Remote host names are never resolved through DNS: only IP
// literals, "localhost" and the static entries given in Remote.Hosts are
// dialled, so a DNS outage cannot lock a node out of its own fix.
package gitrepo

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/pktline"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Class says why a fetch failed. It is never guessed from an empty answer:
// a failed fetch is an error of one of these classes and changes nothing that
// is served.
type Class string

// The classes of fetch errors.
const (
	ClassUnreachable   Class = "unreachable"    // connection refused, no route, reset, 5xx
	ClassTimeout       Class = "timeout"        // the fetch deadline passed
	ClassAuthRefused   Class = "auth-refused"   // 401/403, ssh auth or host key refused
	ClassRepoNotFound  Class = "repo-not-found" // 404, no repository at that path
	ClassRefNotFound   Class = "ref-not-found"  // the tracked ref is not on the remote (or it is empty)
	ClassCorruptObject Class = "corrupt-object" // objects missing or unreadable, bad pack
	ClassConfig        Class = "config"         // our own settings: unreadable auth file, host without static entry
	ClassProtocol      Class = "protocol"       // the remote answered, but not in the git protocol (garbage, a web page)
	ClassDiskFull      Class = "disk-full"      // ENOSPC or EDQUOT writing the state directory
	ClassIO            Class = "io-error"       // EIO: the disk under the state directory fails
	ClassOther         Class = "other"
)

var statusRE = regexp.MustCompile(`status code: (\d{3})`)

// Error is a classified failure of an operation on a remote or on the state
// directory.
type Error struct {
	Class Class
	Op    string // "fetch", "resolve", "open", "read"
	URL   string // redacted remote URL or state path
	Err   error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s %s: %s: %v", e.Op, e.URL, e.Class, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// ClassOf returns the class of err: the Class of a wrapped *Error, or one
// derived from the error itself.
func ClassOf(err error) Class {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	return classify(err)
}

func classify(err error) Class {
	var nm git.NoMatchingRefSpecError
	var he *githttp.Err
	var ke *knownhosts.KeyError
	var ne net.Error
	var ue x509.UnknownAuthorityError
	var ce x509.CertificateInvalidError
	var he509 x509.HostnameError
	msg := err.Error()
	switch {
	// The local disk first: a write that fails for lack of space during a
	// fetch is no fault of the remote.
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return ClassDiskFull
	case errors.Is(err, syscall.EIO):
		return ClassIO
	case errors.Is(err, pktline.ErrInvalidPktLen), strings.Contains(msg, "pkt-len"), strings.Contains(msg, "pkt-line"),
		strings.Contains(msg, "invalid pkt"), strings.Contains(msg, "malformed advertised"):
		return ClassProtocol
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return ClassTimeout
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed),
		errors.Is(err, transport.ErrInvalidAuthMethod), errors.As(err, &ke),
		strings.Contains(msg, "unable to authenticate"), strings.Contains(msg, "knownhosts: key"),
		errors.As(err, &ue), errors.As(err, &ce), errors.As(err, &he509):
		return ClassAuthRefused
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return ClassRepoNotFound
	case errors.Is(err, transport.ErrEmptyRemoteRepository), errors.As(err, &nm),
		errors.Is(err, plumbing.ErrReferenceNotFound), strings.Contains(msg, "couldn't find remote ref"):
		return ClassRefNotFound
	case errors.As(err, &he) || statusRE.MatchString(msg):
		c := 0
		if he != nil {
			c = he.StatusCode()
		} else if m := statusRE.FindStringSubmatch(msg); m != nil {
			c, _ = strconv.Atoi(m[1])
		}
		switch {
		case c == 401 || c == 403:
			return ClassAuthRefused
		case c == 404:
			return ClassRepoNotFound
		case c >= 500:
			return ClassUnreachable
		}
		return ClassOther
	case errors.Is(err, plumbing.ErrObjectNotFound), errors.Is(err, fs.ErrNotExist) && strings.Contains(msg, "objects"),
		strings.Contains(msg, "zlib"), strings.Contains(msg, "packfile"), strings.Contains(msg, "checksum"),
		strings.Contains(msg, "object not found"), strings.Contains(msg, "malformed"):
		return ClassCorruptObject
	case errors.As(err, &ne) && ne.Timeout():
		return ClassTimeout
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EPIPE), errors.As(err, &ne),
		strings.Contains(msg, "connection refused"), strings.Contains(msg, "EOF"):
		return ClassUnreachable
	}
	return ClassOther
}
