package resolver

import (
	"reflect"
	"unsafe"

	"github.com/miekg/dns"
)

// DefaultCacheMaxBytes is the default byte bound of the RRset cache
// (Config.CacheMaxBytes).
const DefaultCacheMaxBytes = 256 << 20

// lruOverhead is what golang-lru holds per entry besides the entry: its
// list element (two links, the list, the key, the value pointer, an expiry
// and its bucket: 88 bytes, allocated as 96) and its map's slot (key and
// pointer, 32 bytes, about 48 at the load Go's maps keep).
const lruOverhead = 96 + 48

var (
	entryStructSize = int(unsafe.Sizeof(entry{}))
	rrSlotSize      = int(unsafe.Sizeof(dns.RR(nil)))
)

// entrySize estimates the memory a cached entry holds: the LRU's
// bookkeeping, the entry, its key's name, and its records and signatures.
// It is computed once, when the entry goes in; the cache keeps the sum
// (caches.bytes), so a gauge or the byte bound never scans.
func entrySize(k rrKey, e *entry) int {
	return lruOverhead + entryStructSize + len(k.name) + rrsSize(e.rrs) + rrsSize(e.sigs)
}

func rrsSize(rrs []dns.RR) int {
	n := cap(rrs) * rrSlotSize
	for _, rr := range rrs {
		n += rrSize(rr)
	}
	return n
}

// rrSize estimates one record: its struct, plus what its fields point to,
// counted as its uncompressed wire length (owner and rdata names, addresses
// and character strings take about as many bytes in memory as on the
// wire), plus the share of the fields miekg/dns keeps as text that the wire
// packs tighter: base64 signatures and keys (4 characters per 3 bytes), hex
// digests and salts (2 per byte), base32 hashes (8 per 5), type bitmaps (a
// uint16 per type) and each character string's header.
func rrSize(rr dns.RR) int {
	n := int(reflect.TypeOf(rr).Elem().Size()) + dns.Len(rr)
	switch v := rr.(type) {
	case *dns.RRSIG:
		n += len(v.Signature) / 4
	case *dns.DNSKEY:
		n += len(v.PublicKey) / 4
	case *dns.DS:
		n += len(v.Digest) / 2
	case *dns.NSEC:
		n += 2 * len(v.TypeBitMap)
	case *dns.NSEC3:
		n += len(v.NextDomain)*3/8 + len(v.Salt)/2 + 2*len(v.TypeBitMap)
	case *dns.TXT:
		n += 16 * len(v.Txt)
	}
	return n
}
