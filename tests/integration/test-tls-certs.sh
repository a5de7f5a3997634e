#!/bin/bash
# Certificate checks against Dovecot serving each certificate of
# tests/tls/mkcerts.sh: every bad one is rejected with 77 before any login
# reaches the server; the intermediate with its chain passes; a SHA-256 pin
# accepts the self-signed certificate and a wrong pin is 77 even for a
# certificate that verifies; --insecure works with a warning on stderr
# (also when not a terminal) that -q silences; --tls-min 1.3 works.
. "$(dirname "$0")/../lib/common.sh"
pf_init

# One set of certificates for every server of this test.
bash "$PF_SRCDIR/tests/tls/mkcerts.sh" "$T/certs" || fail "mkcerts.sh failed"
# dovecot.sh serves NAME.pem with NAME.key; the chain file shares its key.
cp "$T/certs/viainter.key" "$T/certs/viainter-chain.key"
export PF_CERTCACHE=$T/certs

# server CERT: (re)start Dovecot serving CERT, with two messages, and
# make sure it really serves it (an openssl s_client handshake is not a
# login attempt). Dovecot's own OpenSSL refuses to load the weak RSA-1024
# and SHA-1 certificates at the default security level ("ee key too
# small"), so the server side is lowered to level 0 for all of them: the
# client's refusal is what is under test.
server() {
	local got
	dovecot_stop
	rm -rf "$T/dc"
	pf_server --cert "$1" --conf-extra 'ssl_cipher_list = DEFAULT:@SECLEVEL=0'
	pf_mailgen --count 2 --plain --seed 61
	got=$(openssl s_client -connect "127.0.0.1:$DC_POP3S_PORT" \
	    -cipher 'DEFAULT:@SECLEVEL=0' </dev/null 2>/dev/null |
	    openssl x509 -noout -fingerprint -sha256 2>/dev/null |
	    sed 's/^.*=//')
	[ "$got" = "$(fingerprint "$T/certs/${1%-chain}.pem")" ] ||
	    fail "Dovecot does not serve the certificate '$1'"
}

# fingerprint FILE: the SHA-256 fingerprint, colon-separated hex.
fingerprint() {
	openssl x509 -in "$1" -noout -fingerprint -sha256 | sed 's/^.*=//'
}

# rejected NAME CERT: the run must be 77, one error line, no login.
rejected() {
	assert_rc "$1" 77
	grep -q '^popfetch: ' "$T/$1.err" || { show "$1"; fail "$1: no error line"; }
	[ "$(wc -l <"$T/$1.err")" -eq 1 ] ||
	    { show "$1"; fail "$1: more than one line on stderr"; }
	[ "$(dovecot_login_attempts)" -eq 0 ] || {
		cat "$DC_LOG" >&2
		fail "$1: Dovecot saw a login attempt"
	}
	[ "$(maildir_count "$T/$1")" -eq 0 ] || fail "$1: mail delivered"
	[ "$(dovecot_count_messages)" -eq 2 ] || fail "$1: mail deleted"
}

# accepted NAME: the run must be 0 and deliver the two messages.
accepted() {
	assert_rc "$1" 0
	verify --maildir "$T/$1" >/dev/null 2>"$T/verify.err" ||
	    { cat "$T/verify.err" >&2; fail "$1: corpus not delivered"; }
}

for c in wronghost expired notyet selfsigned cnonly rsa1024 sha1 viainter; do
	server "$c"
	pf_run "bad-$c" --maildir "$T/bad-$c"
	rejected "bad-$c"
	# Also by address: the name check is not skipped for IPs.
	PF_HOST=127.0.0.1 pf_run "badip-$c" --maildir "$T/badip-$c"
	rejected "badip-$c"
done

# The leaf signed by the intermediate verifies when the chain is served.
server viainter-chain
pf_run chain --maildir "$T/chain"
accepted chain

# Pinning the self-signed certificate: colons, and bare lower-case hex.
server selfsigned
fp=$(fingerprint "$T/certs/selfsigned.pem")
[ -n "$fp" ] || fail "openssl printed no fingerprint"
bare=$(printf '%s' "$fp" | tr -d ':' | tr 'A-F' 'a-f')
# A wrong pin: 77 (first, while Dovecot has seen no login) (one bit off the right one).
last=${bare: -1}
case $last in 0) flip=1 ;; *) flip=0 ;; esac
wrongpin=${bare%?}$flip
pf_run wrongpin --fingerprint "$wrongpin" --maildir "$T/wrongpin"
rejected wrongpin

pf_run pin --keep --all --fingerprint "$fp" --maildir "$T/pin"
accepted pin
assert_empty "$T/pin.err" "stderr of a pinned run"
pf_run pinbare --keep --all --fingerprint "$bare" --maildir "$T/pinbare"
accepted pinbare

# --insecure: works, warns on stderr though it is not a terminal.
pf_run insecure --keep --all --insecure --maildir "$T/insecure"
accepted insecure
grep -qi 'insecure\|not verif' "$T/insecure.err" ||
    { show insecure; fail "--insecure printed no warning"; }
[ "$(wc -l <"$T/insecure.err")" -eq 1 ] ||
    { show insecure; fail "--insecure printed more than the warning"; }
assert_empty "$T/insecure.out" "stdout of --insecure"
pf_run insecureq -q --keep --all --insecure --maildir "$T/insecureq"
accepted insecureq
assert_empty "$T/insecureq.err" "stderr of -q --insecure"
assert_empty "$T/insecureq.out" "stdout of -q --insecure"

# A wrong pin against a certificate that verifies is still 77.
server localhost
pf_run goodchain-wrongpin --fingerprint "$wrongpin" \
    --maildir "$T/goodchain-wrongpin"
rejected goodchain-wrongpin
# The right pin of that certificate works.
pf_run goodpin --keep --all \
    --fingerprint "$(fingerprint "$T/certs/localhost.pem")" --maildir "$T/goodpin"
accepted goodpin

# --tls-min 1.3: Dovecot speaks it.
pf_run tls13 -vv --keep --all --tls-min 1.3 --maildir "$T/tls13"
accepted tls13
grep -q 'TLSv1\.3' "$T/tls13.err" ||
    { show tls13; fail "--tls-min 1.3: the trace shows no TLSv1.3"; }
pass
