package dnssec

import (
	"fmt"
	"time"

	"github.com/miekg/dns"
)

// Status is the security status of data (RFC 4033 section 5).
type Status uint8

const (
	// Indeterminate: no trust anchor covers the name, so nothing can be
	// said about it (RFC 4033 section 5). Served like Insecure.
	Indeterminate Status = iota
	// Insecure: the chain of trust proves the data unsigned (no DS at a
	// delegation, opt-out), or it leads only to algorithms or digests this
	// validator lacks, or a negative trust anchor covers it.
	Insecure
	// Secure: every RRset verified up to a trust anchor. Only Secure data
	// gets AD (RFC 6840 section 5.7).
	Secure
	// Bogus: the data should be signed and is not, or the signatures or
	// proofs are wrong: SERVFAIL with the EDE in Result.
	Bogus
)

func (s Status) String() string {
	switch s {
	case Secure:
		return "secure"
	case Insecure:
		return "insecure"
	case Bogus:
		return "bogus"
	}
	return "indeterminate"
}

// Extended DNS Error info codes (RFC 8914 section 4) a validation reports.
const (
	EDEUnsupportedAlgorithm = dns.ExtendedErrorCodeUnsupportedDNSKEYAlgorithm // 1
	EDEUnsupportedDigest    = dns.ExtendedErrorCodeUnsupportedDSDigestType    // 2
	EDEBogus                = dns.ExtendedErrorCodeDNSBogus                   // 6
	EDESignatureExpired     = dns.ExtendedErrorCodeSignatureExpired           // 7
	EDESignatureNotYetValid = dns.ExtendedErrorCodeSignatureNotYetValid       // 8
	EDEDNSKEYMissing        = dns.ExtendedErrorCodeDNSKEYMissing              // 9
	EDERRSIGsMissing        = dns.ExtendedErrorCodeRRSIGsMissing              // 10
	EDENSECMissing          = dns.ExtendedErrorCodeNSECMissing                // 12
)

// Result is the outcome of validating a response or RRset.
type Result struct {
	Status Status
	// EDE is the RFC 8914 info code for Bogus (and for Insecure because of
	// an unsupported algorithm or digest); 0 otherwise.
	EDE uint16
	// Why is one line for logs and the EDE extra text: the zone and record
	// at fault and the reason. It names no server.
	Why string
	// Cause is the error behind a chain that could not be fetched (for
	// logs: it may name a server), nil otherwise.
	Cause error
	// Until is when the shortest-lived signature used expires (zero when
	// none was used): cached data must not outlive it (RFC 4035 section
	// 5.3.3).
	Until time.Time

	limited bool // Bogus because a work limit was reached
}

// Reason is a short label for metrics: "secure", "insecure",
// "indeterminate", or for bogus results the EDE name ("signature_expired",
// "rrsigs_missing", ...).
func (r Result) Reason() string {
	if r.Status != Bogus {
		return r.Status.String()
	}
	switch r.EDE {
	case EDEUnsupportedAlgorithm:
		return "unsupported_algorithm"
	case EDESignatureExpired:
		return "signature_expired"
	case EDESignatureNotYetValid:
		return "signature_not_yet_valid"
	case EDEDNSKEYMissing:
		return "dnskey_missing"
	case EDERRSIGsMissing:
		return "rrsigs_missing"
	case EDENSECMissing:
		return "nsec_missing"
	}
	return "bogus"
}

func (r Result) String() string {
	if r.Why == "" {
		return r.Status.String()
	}
	return r.Status.String() + ": " + r.Why
}

func secure(until time.Time) Result { return Result{Status: Secure, Until: until} }

func bogus(ede uint16, format string, args ...any) Result {
	return Result{Status: Bogus, EDE: ede, Why: fmt.Sprintf(format, args...)}
}

// limited is the Bogus result of a query that spent its validation budget.
func limited(format string, args ...any) Result {
	r := bogus(EDEBogus, format, args...)
	r.limited = true
	return r
}

// Limited reports whether the result is Bogus because a work limit was
// reached (the KeyTrap defence) rather than because of the data alone.
func (r Result) Limited() bool { return r.limited }

func insecure(ede uint16, format string, args ...any) Result {
	return Result{Status: Insecure, EDE: ede, Why: fmt.Sprintf(format, args...)}
}

// worse combines the results of the parts of one response: the response is
// as secure as its least secure part, and bogus if any part is.
func worse(a, b Result) Result {
	rank := func(s Status) int {
		switch s {
		case Secure:
			return 0
		case Insecure:
			return 1
		case Indeterminate:
			return 2
		}
		return 3
	}
	if rank(b.Status) > rank(a.Status) {
		return b
	}
	if a.Status == Secure && b.Status == Secure {
		a.Until = earlier(a.Until, b.Until)
	}
	return a
}

func earlier(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}
