package dnssectest

import "github.com/miekg/dns"

// Expectation is what a validator must say about one question to the
// signed internet.
type Expectation struct {
	Name    string
	Type    uint16
	Status  string // "secure", "insecure" or "bogus"
	EDE     uint16 // RFC 8914 code a bogus (or unsupported-algorithm) answer carries
	Unbound string // Unbound's status where it differs from ours ("" = the same), and why in Why
	Why     string
}

// Expectations cover every variant: positive answers, NODATA, NXDOMAIN,
// wildcards, empty non-terminals, CNAMEs, and the insecure and bogus
// zones.
var Expectations = []Expectation{
	{Name: "www." + Secure, Type: dns.TypeA, Status: "secure"},
	{Name: "www." + Secure, Type: dns.TypeMX, Status: "secure"},
	{Name: "nope." + Secure, Type: dns.TypeA, Status: "secure"},
	{Name: "x.wild." + Secure, Type: dns.TypeA, Status: "secure"},
	{Name: "x.wild." + Secure, Type: dns.TypeMX, Status: "secure"},
	{Name: "b." + Secure, Type: dns.TypeA, Status: "secure"},
	{Name: "alias." + Secure, Type: dns.TypeA, Status: "secure"},
	{Name: "www." + NSEC3, Type: dns.TypeA, Status: "secure"},
	{Name: "www." + NSEC3, Type: dns.TypeMX, Status: "secure"},
	{Name: "nope." + NSEC3, Type: dns.TypeA, Status: "secure"},
	{Name: "x.wild." + NSEC3, Type: dns.TypeA, Status: "secure"},
	{Name: "x.wild." + NSEC3, Type: dns.TypeMX, Status: "secure"},
	{Name: "b." + NSEC3, Type: dns.TypeA, Status: "secure"},
	{Name: "deep.b." + NSEC3, Type: dns.TypeA, Status: "secure"},
	{Name: "www." + NSEC3P256, Type: dns.TypeA, Status: "secure"},
	{Name: "nope." + NSEC3P256, Type: dns.TypeA, Status: "secure"},
	{Name: "x.wild." + NSEC3P256, Type: dns.TypeA, Status: "secure"},
	{Name: "www." + OptOut, Type: dns.TypeA, Status: "secure"},
	{Name: "www." + OptOut, Type: dns.TypeMX, Status: "secure"},
	// RFC 5155 section 9.2: an opt-out span may hide unsigned delegations,
	// so what its next closer proof says is insecure (as Unbound).
	{Name: "nope." + OptOut, Type: dns.TypeA, Status: "insecure"},
	{Name: "x.wild." + OptOut, Type: dns.TypeA, Status: "insecure"},
	{Name: "x.wild." + OptOut, Type: dns.TypeMX, Status: "insecure"},
	{Name: "b." + OptOut, Type: dns.TypeA, Status: "secure"},
	{Name: "nope.example.", Type: dns.TypeA, Status: "secure"},
	{Name: "www." + Insecure, Type: dns.TypeA, Status: "insecure"},
	{Name: "nope." + Insecure, Type: dns.TypeA, Status: "insecure"},
	{Name: "www." + Tampered, Type: dns.TypeA, Status: "bogus", EDE: 6},
	{Name: "www." + Expired, Type: dns.TypeA, Status: "bogus", EDE: 7},
	{Name: "www." + NoSig, Type: dns.TypeA, Status: "bogus", EDE: 10},
	{Name: "www." + WrongDS, Type: dns.TypeA, Status: "bogus", EDE: 9},
	{Name: "nope." + NSEC3Gone, Type: dns.TypeA, Status: "bogus", EDE: 12},
	{Name: "www." + NSEC3Gone, Type: dns.TypeA, Status: "secure"},
	{Name: "www." + Ed448, Type: dns.TypeA, Status: "insecure", EDE: 1,
		Unbound: "secure", Why: "Unbound verifies Ed448 with OpenSSL; miekg/dns has no Ed448 verifier, so ours treats the algorithm as unsupported (RFC 4035 5.2)"},
	{Name: "www." + UnknownAlg, Type: dns.TypeA, Status: "insecure", EDE: 1},
	{Name: "www." + KeyTrap, Type: dns.TypeA, Status: "bogus", EDE: 6},
	{Name: "nope." + KeyTrap, Type: dns.TypeA, Status: "bogus"},
}
