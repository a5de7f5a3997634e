#!/bin/bash
#
# mkcerts.sh OUTDIR: make the test PKI used by the TLS tests.
#
# Everything is EC P-256 with SHA-256 unless the name says otherwise. The
# files are rebuilt on every run (idempotent) and nothing is printed unless
# a step fails. Files made in OUTDIR:
#
#   ca.pem, ca.key          test root CA ("popfetch test root CA")
#   inter.pem, inter.key    intermediate CA, signed by the root
#
# and for each leaf NAME below: NAME.pem (the leaf certificate alone),
# NAME.key (its key) and NAME-chain.pem (the leaf followed by the
# intermediate when the intermediate signed it, else the leaf alone).
#
#   localhost    SAN DNS:localhost, IP:127.0.0.1, IP:::1; signed by the root
#   proxied      SAN DNS:localhost, DNS:pop.via-proxy.test, IP:127.0.0.1,
#                IP:::1 (the reach tests: a name only their proxy resolves)
#   wronghost    SAN DNS:wrong.example
#   expired      SAN localhost, valid 2000-01-01 .. 2001-01-01
#   notyet       SAN localhost, valid 2095-01-01 .. 2096-01-01
#   selfsigned   SAN localhost, self-signed (not from the root)
#   cnonly       CN=localhost and no subjectAltName at all
#   wildcard     SAN DNS:*.b.test (matches a.b.test, not b.test or x.a.b.test)
#   partialwild  SAN DNS:f*.b.test (partial wildcard: foo.b.test must fail)
#   rsa1024      SAN localhost, 1024-bit RSA key (too weak at seclevel 2)
#   sha1         SAN localhost, ECDSA-with-SHA1 signature (too weak)
#   viainter     SAN localhost, signed by the intermediate: verifies only
#                when served as viainter-chain.pem
#   client       CN=popfetch test client, extendedKeyUsage clientAuth
#
# Unless stated, leaves are signed by the root and valid for ten years
# from now. Needs the openssl(1) command (3.0 or later).

set -eu

if [ $# -ne 1 ]; then
	echo "usage: mkcerts.sh OUTDIR" >&2
	exit 64
fi
out=$1
mkdir -p "$out"

work=$(mktemp -d "${TMPDIR:-/tmp}/mkcerts.XXXXXX")
trap 'rm -rf "$work"' EXIT
log=$work/log
: >"$log"

# Run a command with its output in the log; show the log if it fails.
run() {
	if ! "$@" >>"$log" 2>&1; then
		echo "mkcerts.sh: failed: $*" >&2
		cat "$log" >&2
		exit 1
	fi
}

cat >"$work/openssl.cnf" <<EOF
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
default_ca = tca
[tca]
dir = $work/ca
database = \$dir/index.txt
new_certs_dir = \$dir/new
serial = \$dir/serial
default_md = sha256
policy = pol
unique_subject = no
copy_extensions = none
email_in_dn = no
[pol]
commonName = supplied
EOF
mkdir -p "$work/ca/new"
: >"$work/ca/index.txt"
echo 1000 >"$work/ca/serial"
export OPENSSL_CONF=$work/openssl.cnf

# Extension sections; SAN is filled in per leaf through the environment.
export SAN=DNS:localhost
cat >>"$work/openssl.cnf" <<'EOF'
[rootca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[interca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[leaf]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = ${ENV::SAN}
[leafnosan]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[selfleaf]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
subjectAltName = ${ENV::SAN}
[clientleaf]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF

w=$work
serial=100

eckey() {
	run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	    -out "$1"
}

# csr NAME CN: key (unless present) and request for NAME in the work dir.
csr() {
	[ -f "$w/$1.key" ] || eckey "$w/$1.key"
	run openssl req -new -key "$w/$1.key" -subj "/CN=$2" -out "$w/$1.csr"
}

# sign NAME ISSUER SECTION [MD]: issue NAME.pem from NAME.csr for ten years.
sign() {
	serial=$((serial + 1))
	run openssl x509 -req -in "$w/$1.csr" -CA "$w/$2.pem" \
	    -CAkey "$w/$2.key" -set_serial "$serial" -days 3650 \
	    -"${4:-sha256}" -extfile "$w/openssl.cnf" -extensions "$3" \
	    -out "$w/$1.pem"
}

# dated NAME START END: issue NAME.pem from the root with fixed dates.
dated() {
	run openssl ca -batch -notext -config "$w/openssl.cnf" \
	    -cert "$w/ca.pem" -keyfile "$w/ca.key" -in "$w/$1.csr" \
	    -startdate "$2" -enddate "$3" -extfile "$w/openssl.cnf" \
	    -extensions leaf -out "$w/$1.pem"
}

eckey "$w/ca.key"
run openssl req -x509 -new -key "$w/ca.key" -subj "/CN=popfetch test root CA" \
    -days 3650 -sha256 -set_serial 1 -extensions rootca \
    -config "$w/openssl.cnf" -out "$w/ca.pem"

csr inter "popfetch test intermediate CA"
sign inter ca interca

SAN="DNS:localhost,IP:127.0.0.1,IP:::1"
csr localhost localhost
sign localhost ca leaf

SAN="DNS:localhost,DNS:pop.via-proxy.test,IP:127.0.0.1,IP:::1"
csr proxied pop.via-proxy.test
sign proxied ca leaf

SAN="DNS:wrong.example"
csr wronghost wrong.example
sign wronghost ca leaf

SAN="DNS:localhost"
csr expired localhost
dated expired 20000101000000Z 20010101000000Z
csr notyet localhost
dated notyet 20950101000000Z 20960101000000Z

eckey "$w/selfsigned.key"
run openssl req -x509 -new -key "$w/selfsigned.key" -subj "/CN=localhost" \
    -days 3650 -sha256 -set_serial 7 -extensions selfleaf \
    -config "$w/openssl.cnf" -out "$w/selfsigned.pem"

csr cnonly localhost
sign cnonly ca leafnosan

SAN="DNS:*.b.test"
csr wildcard "*.b.test"
sign wildcard ca leaf

SAN="DNS:f*.b.test"
csr partialwild "f*.b.test"
sign partialwild ca leaf

SAN="DNS:localhost"
run openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 \
    -out "$w/rsa1024.key"
csr rsa1024 localhost
sign rsa1024 ca leaf

csr sha1 localhost
sign sha1 ca leaf sha1

csr viainter localhost
sign viainter inter leaf

csr client "popfetch test client"
sign client ca clientleaf

leaves="localhost proxied wronghost expired notyet selfsigned cnonly wildcard
    partialwild rsa1024 sha1 viainter client"
for n in $leaves; do
	if [ "$n" = viainter ]; then
		cat "$w/$n.pem" "$w/inter.pem" >"$w/$n-chain.pem"
	else
		cat "$w/$n.pem" >"$w/$n-chain.pem"
	fi
done

chmod 600 "$w"/*.key
for n in ca inter $leaves; do
	mv -f "$w/$n.pem" "$w/$n.key" "$out/"
	[ ! -f "$w/$n-chain.pem" ] || mv -f "$w/$n-chain.pem" "$out/"
done
