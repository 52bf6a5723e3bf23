// Package dnssec owns DNSSEC validation (RFC 4033-4035, 5155, 6840) for the
// recursive resolver, in pure Go on miekg/dns: trust anchors (the IANA root
// KSKs built in, or a DS/DNSKEY master file) and negative trust anchors
// (RFC 7646); the chain of trust DS -> DNSKEY -> RRSIG, fetched through a
// Fetcher and cached; RRset signature checks with their validity window and
// wildcard expansion; NSEC and NSEC3 denial proofs (NXDOMAIN, NODATA,
// wildcard, opt-out, closest encloser); aggressive use of validated NSEC and
// NSEC3 records (RFC 8198); and the work limits that keep one client query's
// validation bounded. It knows nothing of CoreDNS, sockets or the resolver's
// cache: package resolver drives it.
//
// A result is Secure, Insecure (a proven unsigned delegation, an unsupported
// algorithm or digest, NSEC3 iterations above the limit, or a negative trust
// anchor), Bogus (with an RFC 8914 Extended DNS Error code saying why) or
// Indeterminate (no trust anchor covers the name).
//
// Supported: DNSKEY algorithms 5, 7 (RSA/SHA-1, which RFC 8624 section 3.1
// still requires validators to accept), 8, 10 (RSA/SHA-2), 13, 14 (ECDSA) and
// 15 (Ed25519); DS digests 1, 2 and 4 (RFC 8624 section 3.3), the strongest
// present preferred (RFC 4509 section 3). Ed448 (16) is not: miekg/dns has
// no Ed448 verifier (RRSIG.Verify returns ErrAlg), so a zone whose DS
// records name only algorithm 16 is insecure, exactly as RFC 4035 section
// 5.2 and RFC 6840 section 5.2 require for an algorithm a validator lacks.
//
// Work limits against KeyTrap (CVE-2023-50387) and NSEC3 hashing
// (CVE-2023-50868), per client query unless said otherwise:
//
//	limit                       default  PowerDNS Recursor 5.0.2+                     Unbound 1.19.1+
//	signature verifications     30       max-signature-validations-per-query 30       8 at once, 16 suspends
//	RRSIGs tried per RRset      8        max-rrsigs-per-record 2                      MAX_VALIDATE_RRSIGS 8
//	DNSKEYs per tag+algorithm   2        max-dnskeys 2                                (bounded by the above)
//	DS records per zone         8        max-ds-per-zone 8                            MAX_DS_MATCH_FAILURES 4
//	NSEC3 hash computations     600      max-nsec3-hash-computations-per-query 600    8 per calculation batch
//	NSEC3 iterations            150      (insecure above, RFC 9276 section 3.2)       150
//
// A query that runs out of a budget is Bogus (SERVFAIL) with EDE 6 and a
// reason naming the limit; the chain entries it could not finish are not
// cached as secure. Only validations that reach the cryptography count: a
// signature whose tag, algorithm, signer or window cannot match costs
// nothing and is skipped, and neither does one that verified before: a
// bounded memo keyed by a SHA-256 of the key, the RRSIG and the signed data
// as RFC 4035 section 5.3.2 rebuilds it (so one wildcard's signature
// verifies once for all the names it answers) remembers successes only;
// the window, the labels and signer against the name asked, and any
// wildcard proof are checked every time.
//
// Time comes from Config.Now; Config.OverrideDate pins the instant
// signature windows are checked against (as Unbound's val-override-date),
// for replaying recorded signatures in tests only.
package dnssec
