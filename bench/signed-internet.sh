#!/usr/bin/env bash
# A DNSSEC-signed copy of ../shared/bench's fake internet, as a data dir the
# kit takes unchanged (run-peers.sh reads DATA from the environment, and its
# fake-internet.sh serves "$DATA/zones/<zone>.zone" with NSD on the same
# addresses): the same records, signed with bind9-utils like the real
# internet is:
#
#   .             ECDSAP256SHA256 KSK+ZSK, NSEC            (the root: NSEC)
#   com. net.     ECDSAP256SHA256 KSK+ZSK, NSEC3 opt-out   (as .com and .net)
#   example.com.  ECDSAP256SHA256 KSK+ZSK, NSEC3, 0 extra iterations, no salt
#   example.net.  (RFC 9276 section 3.1); *.wild.example.com is signed as a
#                 wildcard, so every W3 answer carries its NSEC3 proof
#   root-servers.net.  unsigned, no DS in net. (as the real one)
#
# DS records of every signed child go into its parent before the parent is
# signed; the root KSK's DS is the trust anchor, written to
# OUT/trust-anchors.zone in master-file syntax (Unbound's trust-anchor-file,
# resolverd's policy.yaml dnssec.trust_anchors). Fresh keys every call;
# signatures valid from an hour ago for 30 days. The workloads' queries, the
# internal zone and the root hints are the unsigned data's (symlinks).
# NSEC3 rather than NSEC below the TLDs keeps W3 a cold-recursion workload:
# with NSEC, RFC 8198 lets a validator synthesise every wildcard answer from
# cache.
#
#   signed-internet.sh BASE_DATA OUT_DATA
set -euo pipefail
base=${1:?usage: signed-internet.sh BASE_DATA OUT_DATA}
out=${2:?usage: signed-internet.sh BASE_DATA OUT_DATA}
for z in root com net example.com example.net root-servers.net corp.internal; do
  [ -f "$base/zones/$z.zone" ] || { echo "signed-internet: $base/zones/$z.zone missing (run the kit's gen-data.py)" >&2; exit 1; }
done
for t in dnssec-keygen dnssec-signzone; do
  command -v "$t" >/dev/null || { echo "signed-internet: $t not found (Debian package bind9-utils)" >&2; exit 1; }
done

rm -rf "$out"
mkdir -p "$out/zones" "$out/keys"
ln -s "$base/queries" "$out/queries"
[ -d "$base/dnsmasq" ] && ln -s "$base/dnsmasq" "$out/dnsmasq"
cp "$base/root.hints" "$out/root.hints"
ln -s "$base/zones/corp.internal.zone" "$out/zones/corp.internal.zone"
cp "$base/zones/root-servers.net.zone" "$out/zones/root-servers.net.zone"

inception=$(date -u -d '1 hour ago' +%Y%m%d%H%M%S)
expiration=$(date -u -d '30 days' +%Y%m%d%H%M%S)

# sign ORIGIN FILE [dnssec-signzone flags...]: signs $out/keys/FILE (the
# unsigned text plus its children's DS) into $out/zones/FILE with a fresh
# KSK and ZSK; leaves the DS set for the parent in $out/keys/dsset-ORIGIN.
sign() {
  local origin=$1 file=$2; shift 2
  local k=$out/keys ksk zsk
  ksk=$(dnssec-keygen -q -K "$k" -a ECDSAP256SHA256 -f KSK -n ZONE "$origin")
  zsk=$(dnssec-keygen -q -K "$k" -a ECDSAP256SHA256 -n ZONE "$origin")
  cat "$k/$ksk.key" "$k/$zsk.key" >>"$k/$file"
  # -x: the DNSKEY RRset is signed by the KSK alone, as the root's and the
  # TLDs' are.
  dnssec-signzone -q -x -K "$k" -d "$k" -o "$origin" -s "$inception" -e "$expiration" \
    -f "$out/zones/$file" "$@" "$k/$file" >/dev/null
}
# with_ds FILE CHILD...: the unsigned zone FILE plus the DS sets of CHILDren.
with_ds() {
  local file=$1 c; shift
  cp "$base/zones/$file" "$out/keys/$file"
  for c in "$@"; do cat "$out/keys/dsset-$c." >>"$out/keys/$file"; done
}

with_ds example.com.zone
sign example.com. example.com.zone -3 - -H 0
with_ds example.net.zone
sign example.net. example.net.zone -3 - -H 0
with_ds com.zone example.com
sign com. com.zone -3 - -H 0 -A
with_ds net.zone example.net
sign net. net.zone -3 - -H 0 -A
with_ds root.zone com net
sign . root.zone

{
  echo "; DS of the fake root's KSK (bench/signed-internet.sh, $(date -u +%Y-%m-%dT%H:%MZ))"
  # one line per DS, the digest in one piece (dsset files split it)
  awk '$3 == "DS" { d = ""; for (i = 7; i <= NF; i++) d = d $i; print ". 86400 IN DS", $4, $5, $6, d }' "$out/keys/dsset-."
} >"$out/trust-anchors.zone"
{
  cat "$base/MANIFEST"
  echo "signed: ECDSAP256SHA256; . NSEC; com. net. NSEC3 opt-out; example.com. example.net. NSEC3; root-servers.net. unsigned"
  echo "signatures: $inception - $expiration"
} >"$out/MANIFEST"
