package resolver

import (
	"context"
	"errors"
	"net"
	"syscall"

	"github.com/miekg/dns"
)

// ExtendedError maps the error of a failed resolution (Resolve's SERVFAIL)
// to the RFC 8914 Extended DNS Error a SERVFAIL should carry, so that the
// client learns why without reading our logs:
//
//   - 22 No Reachable Authority: every server asked was lame, broken or
//     silent (timeouts, the deadline), or none was usable (RFC 8914 4.23:
//     "could not reach any of the authoritative name servers (or they
//     potentially refused to reply)");
//   - 23 Network Error: a server's port or host was unreachable (ICMP,
//     ECONNREFUSED...), its replies did not match the query, or a forward
//     target over TLS failed authentication or the handshake (RFC 8914
//     4.24: "an unrecoverable error occurred while communicating with
//     another server");
//   - 0 Other, with a text, for the limits of our own (CNAME loop, work
//     budget, too many referrals, overload): no RFC 8914 code says these;
//   - for bogus DNSSEC data (*ValidationError), the code of why (6 DNSSEC
//     Bogus, 7 Signature Expired, 8 Signature Not Yet Valid, 9 DNSKEY
//     Missing, 10 RRSIGs Missing, 12 NSEC Missing) with the validator's
//     reason, which names the zone and record at fault (public data) but
//     no server.
//
// A cached failure (RFC 9520) reports the cause it was cached for. The
// text names the class of failure only, never a server or a name.
func ExtendedError(err error) (code uint16, text string) {
	var ne net.Error
	var ve *ValidationError
	switch {
	case err == nil:
		return dns.ExtendedErrorCodeOther, ""
	case errors.As(err, &ve):
		code = ve.Result.EDE
		if code == 0 {
			code = dns.ExtendedErrorCodeDNSBogus
		}
		return code, ve.Result.Why
	case errors.Is(err, ErrCNAMELoop):
		return dns.ExtendedErrorCodeOther, "CNAME loop"
	case errors.Is(err, ErrBudget):
		return dns.ExtendedErrorCodeOther, "work budget of the query exhausted"
	case errors.Is(err, ErrTooManyRecords):
		return dns.ExtendedErrorCodeOther, "an RRset of the answer is larger than the limit"
	case errors.Is(err, errSteps):
		return dns.ExtendedErrorCodeOther, "too many referrals"
	case errors.Is(err, ErrOverload), errors.Is(err, errBusy):
		return dns.ExtendedErrorCodeOther, "resolver overloaded"
	case errors.Is(err, errTLSAuth):
		// RFC 8310 8.1: a server that fails authentication is not used.
		return dns.ExtendedErrorCodeNetworkError, "TLS authentication of the forwarder failed"
	case errors.Is(err, errTLSHandshake):
		return dns.ExtendedErrorCodeNetworkError, "TLS handshake with the forwarder failed"
	case errors.Is(err, errConnClosed):
		return dns.ExtendedErrorCodeNetworkError, "network error talking to the authorities"
	case errors.Is(err, errMismatch):
		return dns.ExtendedErrorCodeNetworkError, "replies did not match the query"
	case errors.Is(err, ErrDeadline), errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return dns.ExtendedErrorCodeNoReachableAuthority, "no authority answered in time"
	case errors.Is(err, errLame), errors.Is(err, ErrNoServers):
		return dns.ExtendedErrorCodeNoReachableAuthority, "every authority was lame or failed"
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH), errors.As(err, &ne):
		return dns.ExtendedErrorCodeNetworkError, "network error talking to the authorities"
	}
	return dns.ExtendedErrorCodeOther, ""
}
