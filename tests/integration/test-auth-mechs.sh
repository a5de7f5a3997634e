#!/bin/bash
# Every login mechanism against a real Dovecot: each one logs in and
# fetches over implicit TLS; over --no-tls the ones that do not send the
# password in clear work silently, USER/PLAIN/LOGIN only when --auth names
# them and then with a warning; --auth auto prefers PLAIN over verified
# TLS (a CA or a pinned fingerprint), SCRAM over TLS with --insecure and
# without TLS, and refuses
# (77) a server that offers only clear-text mechanisms, without putting
# the password on the wire; a named mechanism the server lacks is 77 with
# no fallback; a wrong password is 77 with every mechanism.
. "$(dirname "$0")/../lib/common.sh"
pf_init
pf_server
pf_mailgen --count 2 --plain --seed 41

mechs="user apop plain login cram-md5 scram-sha-1 scram-sha-256"

# The fixture must offer what this test relies on.
grep -q 'auth_mechanisms = .*scram-sha-256' "$DC_DIR/dovecot.conf" &&
    grep -q 'auth_mechanisms = .*apop' "$DC_DIR/dovecot.conf" &&
    grep -q 'auth_mechanisms = .*cram-md5' "$DC_DIR/dovecot.conf" ||
    fail "the Dovecot fixture does not enable every mechanism"

# Over implicit TLS: every mechanism logs in and fetches, silently.
for m in $mechs; do
	pf_run "tls-$m" --auth "$m" --keep --all --maildir "$T/tls-$m"
	assert_rc "tls-$m" 0
	assert_empty "$T/tls-$m.err" "stderr of --auth $m over TLS"
	verify --maildir "$T/tls-$m" >/dev/null 2>"$T/verify.err" ||
	    { cat "$T/verify.err" >&2; fail "--auth $m: corpus not delivered"; }
done
[ "$(dovecot_count_messages)" -eq 2 ] || fail "--keep runs deleted mail"

# Over --no-tls on the plain port.
for m in $mechs; do
	PF_PORT=$DC_POP3_PORT pf_run "plain-$m" --no-tls --auth "$m" \
	    --keep --all --maildir "$T/plain-$m"
	assert_rc "plain-$m" 0
	verify --maildir "$T/plain-$m" >/dev/null 2>"$T/verify.err" ||
	    { cat "$T/verify.err" >&2; fail "--no-tls --auth $m: not delivered"; }
	case $m in
	user|plain|login)
		grep -qi 'clear.text' "$T/plain-$m.err" || {
			show "plain-$m"
			fail "--no-tls --auth $m: no clear-text warning on stderr"
		}
		[ "$(wc -l <"$T/plain-$m.err")" -eq 1 ] || {
			show "plain-$m"
			fail "--no-tls --auth $m: more than the one warning"
		}
		;;
	*)
		assert_empty "$T/plain-$m.err" \
		    "stderr of --no-tls --auth $m (no clear text is sent)"
		;;
	esac
	assert_no_secret "$T/plain-$m.out" "$T/plain-$m.err"
done

# --auth auto over --no-tls picks the strongest: SCRAM-SHA-256.
PF_PORT=$DC_POP3_PORT pf_run auto-plain -vv --no-tls --auth auto --keep \
    --all --maildir "$T/auto-plain"
assert_rc auto-plain 0
grep -q "logging in as .* with SCRAM-SHA-256" "$T/auto-plain.err" || {
	show auto-plain
	fail "--auth auto over --no-tls did not choose SCRAM-SHA-256"
}
grep -qi 'clear.text' "$T/auto-plain.err" &&
    fail "--auth auto with SCRAM warned about clear text"
assert_no_secret "$T/auto-plain.out" "$T/auto-plain.err"

# The default (no --auth at all) behaves the same as auto.
PF_PORT=$DC_POP3_PORT pf_run default-plain -vv --no-tls --keep --all \
    --maildir "$T/default-plain"
assert_rc default-plain 0
grep -q "with SCRAM-SHA-256" "$T/default-plain.err" ||
    fail "the default mechanism over --no-tls is not SCRAM-SHA-256"

# Over TLS whose certificate was checked the default is PLAIN (one round
# trip, no key stretching); with --insecure a man in the middle could be
# the peer, so SCRAM-SHA-256 (docs/contract.md §1).
pf_run default-tls -vv --keep --all --maildir "$T/default-tls"
assert_rc default-tls 0
grep -q "logging in as .* with PLAIN" "$T/default-tls.err" || {
	show default-tls
	fail "the default mechanism over verified TLS is not PLAIN"
}
assert_no_secret "$T/default-tls.out" "$T/default-tls.err"
pf_run insecure-tls -vv --insecure --keep --all --maildir "$T/insecure-tls"
assert_rc insecure-tls 0
grep -q "logging in as .* with SCRAM-SHA-256" "$T/insecure-tls.err" || {
	show insecure-tls
	fail "the default mechanism over --insecure TLS is not SCRAM-SHA-256"
}
# A pinned fingerprint identifies the peer as well as a CA does: with it
# even --insecure (no chain check) counts as verified and takes PLAIN.
fp=$(openssl x509 -in "$DC_CERTDIR/localhost.pem" -noout -fingerprint \
    -sha256 | sed 's/^.*=//')
pf_run pinned-tls -vv --insecure --fingerprint "$fp" --keep --all \
    --maildir "$T/pinned-tls"
assert_rc pinned-tls 0
grep -q "logging in as .* with PLAIN" "$T/pinned-tls.err" || {
	show pinned-tls
	fail "the default mechanism with a pinned fingerprint is not PLAIN"
}

# Wrong password: 77 with every mechanism, nothing delivered, not shown.
wrong=wrong-$DC_PASS
printf '%s\n' "$wrong" >"$T/wrongpw"
for m in $mechs; do
	pf_run_raw "wrong-$m" --host localhost --port "$DC_POP3S_PORT" \
	    --user "$DC_USER" --password-command "cat $T/wrongpw" \
	    --ca-file "$DC_CA" --state-dir "$T/state" --timeout 30 \
	    --auth "$m" --maildir "$T/wrong-$m"
	assert_rc "wrong-$m" 77
	[ "$(maildir_count "$T/wrong-$m")" -eq 0 ] ||
	    fail "--auth $m with a wrong password delivered mail"
	grep -qF -- "$wrong" "$T/wrong-$m.out" "$T/wrong-$m.err" &&
	    fail "--auth $m shows the wrong password"
done
[ "$(dovecot_count_messages)" -eq 2 ] || fail "a failed login deleted mail"

# A server that offers only clear-text mechanisms (PLAIN, LOGIN, USER).
dovecot_stop
rm -rf "$T/dc"
pf_server --mechs "plain login"
pf_mailgen --count 2 --plain --seed 42

# --auth auto over --no-tls: refused before the password goes out.
proxy_start --target "127.0.0.1:$DC_POP3_PORT" --log-client "$T/auto.wire"
PF_PORT=$PROXY_PORT PF_HOST=127.0.0.1 pf_run auto-refused --no-tls \
    --auth auto --maildir "$T/auto-refused"
assert_rc auto-refused 77
proxy_stop
grep -q '^popfetch: ' "$T/auto-refused.err" ||
    fail "auto refusal: no 'popfetch: ' error line"
[ -s "$T/auto.wire" ] || fail "the proxy saw no client line at all"
if grep -qiE '^(PASS|USER|APOP|AUTH)( |$)' "$T/auto.wire"; then
	cat "$T/auto.wire" >&2
	fail "--auth auto over --no-tls sent a login command to a" \
	    "clear-text-only server"
fi
grep -qF -- "$DC_PASS" "$T/auto.wire" && fail "the password went on the wire"
[ "$(maildir_count "$T/auto-refused")" -eq 0 ] || fail "mail delivered"

# A named mechanism the server lacks: 77, and no other mechanism tried.
for m in cram-md5 scram-sha-1 scram-sha-256 apop; do
	rm -f "$T/lack.wire"
	proxy_start --target "127.0.0.1:$DC_POP3_PORT" \
	    --log-client "$T/lack.wire"
	PF_PORT=$PROXY_PORT PF_HOST=127.0.0.1 pf_run "lack-$m" --no-tls \
	    --auth "$m" --maildir "$T/lack-$m"
	assert_rc "lack-$m" 77
	proxy_stop
	grep -qi '^CAPA' "$T/lack.wire" ||
	    fail "--auth $m: the proxy saw no CAPA (transcript broken?)"
	if grep -qiE '^(PASS|USER)( |$)|^AUTH +(PLAIN|LOGIN)' "$T/lack.wire"
	then
		cat "$T/lack.wire" >&2
		fail "--auth $m fell back to another mechanism"
	fi
	grep -qF -- "$DC_PASS" "$T/lack.wire" &&
	    fail "--auth $m: the password went on the wire"
	[ "$(maildir_count "$T/lack-$m")" -eq 0 ] || fail "mail delivered"
done
# The same over TLS (no transcript, but no fallback means no login).
for m in cram-md5 scram-sha-256; do
	pf_run "lack-tls-$m" --auth "$m" --maildir "$T/lack-tls-$m"
	assert_rc "lack-tls-$m" 77
done
[ "$(dovecot_count_messages)" -eq 2 ] || fail "a refused run deleted mail"
grep -q 'Login: user=' "$DC_LOG" && fail "a refused run logged in"
pass
