#!/bin/bash
# Hostile and refusing proxies (tests/lib/fakeproxy.py) in front of a real
# Dovecot. Every SOCKS5 reply code, a refused method, rejected credentials,
# a proxy that closes or goes silent at each step of the handshake, one
# that speaks another protocol, and HTTP statuses, a cut status line, a
# header without end, silence. Each run must give the documented exit
# code, exactly one line on stderr saying what the proxy did, no secret in
# any output, and leave the server's messages where they were. Then the
# good cases where the proxy's reply and the server's greeting arrive in
# one segment: popfetch must not eat the greeting.
. "$(dirname "$0")/../lib/common.sh"
. "$PF_LIB/reach.sh"
pf_init
reach_init
pf_server
pf_mailgen --count 3 --plain --seed 5
PROXY_PASS="fp-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')-secret"
(umask 077 && printf '%s\n' "$PROXY_PASS" >"$T/proxy-pass")
n=0

# case_run RC PATTERN PREFIX MODE ARG [popfetch options]: one refused run
# through fakeproxy.py in MODE, with --proxy PREFIX127.0.0.1:PORT.
case_run() {
	local rc=$1 pattern=$2 prefix=$3 mode=$4 arg=$5 name
	shift 5
	n=$((n + 1))
	name=c$n-$mode-$arg
	reach_fake_start "$mode" "$arg"
	PF_TIMEOUT=2 PF_HOST=pop.example.test pf_run "$name" \
	    --proxy "${prefix}127.0.0.1:$FAKE_PORT" --maildir "$T/mail" "$@"
	reach_stop "$FAKE_PID"
	assert_rc "$name" "$rc"
	assert_one_line "$name"
	grep -qE -- "$pattern" "$T/$name.err" || {
		show "$name"
		fail "run '$name' does not say '$pattern'"
	}
	awk -v s="$PF_SECS" 'BEGIN { exit !(s < 15) }' ||
	    fail "run '$name' took ${PF_SECS}s"
	assert_no_text "$PROXY_PASS" "$T/$name.out" "$T/$name.err"
	assert_no_secret "$T/$name.out" "$T/$name.err"
	[ "$(dovecot_count_messages)" -eq 3 ] || fail "messages vanished after '$name'"
	[ "$(maildir_count "$T/mail")" -eq 0 ] || fail "something was delivered in '$name'"
}

S="SOCKS5 proxy '127\\.0\\.0\\.1:[0-9]+'"
H="HTTP proxy '127\\.0\\.0\\.1:[0-9]+'"
TG="'pop\\.example\\.test:$DC_POP3S_PORT'"
WITH_USER=(--proxy-password-command "cat $T/proxy-pass")

# SOCKS5 reply codes (RFC 1928 section 6), mapped as popfetch(1) says.
case_run 75 "$S could not connect to $TG: general SOCKS server failure \\(SOCKS reply 1\\)$" socks5h:// socks-reply 1
case_run 77 "$S refused to connect to $TG: connection not allowed by ruleset \\(SOCKS reply 2\\)$" socks5h:// socks-reply 2
case_run 75 "$S could not connect to $TG: network unreachable \\(SOCKS reply 3\\)$" socks5h:// socks-reply 3
case_run 75 "$S could not connect to $TG: host unreachable \\(SOCKS reply 4\\)$" socks5h:// socks-reply 4
case_run 75 "$S could not connect to $TG: connection refused \\(SOCKS reply 5\\)$" socks5h:// socks-reply 5
case_run 75 "$S could not connect to $TG: TTL expired \\(SOCKS reply 6\\)$" socks5h:// socks-reply 6
case_run 69 "$S refused to connect to $TG: command not supported \\(SOCKS reply 7\\)$" socks5h:// socks-reply 7
case_run 69 "$S refused to connect to $TG: address type not supported \\(SOCKS reply 8\\)$" socks5h:// socks-reply 8
case_run 76 "$S refused to connect to $TG: unknown reply code \\(SOCKS reply 9\\)$" socks5h:// socks-reply 9
# socks5h:// sent the name (ATYP 3), not an address of ours.
name_hex=$(printf 'pop.example.test' | od -An -tx1 | tr -d ' \n')
grep -q "0501000310$name_hex" "$T"/fake.log.* ||
    fail "socks5h:// did not send the server's name to the proxy"

case_run 77 "$S: requires authentication: give a user" socks5h:// socks-noauth 0
case_run 77 "$S rejected the user name or password for 'pxuser' \\(status 1\\): check the proxy user and proxy_password_command$" \
    socks5h://pxuser@ socks-authfail 0 "${WITH_USER[@]}"
# The password went to the proxy (RFC 1929) and nowhere else.
pw_hex=$(printf '%s' "$PROXY_PASS" | od -An -tx1 | tr -d ' \n')
grep -q "$pw_hex" "$FAKE_LOG" || fail "the proxy password never reached the proxy"

for stage in greeting method connect; do
	case_run 75 "$S closed the connection during the handshake$" \
	    socks5h:// socks-close "$stage"
	case_run 75 "$S did not answer within 2 seconds$" \
	    socks5h:// socks-stall "$stage"
done
case_run 76 "$S: does not speak SOCKS5 \\(its reply starts with 0x48\\)$" \
    socks5h:// socks-garbage 0

# HTTP CONNECT statuses.
case_run 77 "$H refused to connect to $TG: 407 Proxy Authentication Required \\(give a user" http:// http-status 407
case_run 77 "$H refused to connect to $TG: 407 Proxy Authentication Required \\(check the proxy user" \
    http://pxuser@ http-status 407 "${WITH_USER[@]}"
case_run 77 "$H refused to connect to $TG: 403 Forbidden$" http:// http-status 403
case_run 69 "$H refused to connect to $TG: 405 Method Not Allowed$" http:// http-status 405
case_run 69 "$H refused to connect to $TG: 400 Bad Request$" http:// http-status 400
case_run 75 "$H could not connect to $TG: 502 Bad Gateway$" http:// http-status 502
case_run 75 "$H could not connect to $TG: 503 Service Unavailable$" http:// http-status 503
case_run 75 "$H could not connect to $TG: 504 Gateway Timeout$" http:// http-status 504
case_run 76 "$H refused to connect to $TG: 301 Moved Permanently$" http:// http-status 301
case_run 75 "$H closed the connection during the handshake$" http:// http-close 0
case_run 75 "$H did not answer within 2 seconds$" http:// http-stall 0
case_run 76 "$H: sent a reply header longer than 16384 bytes$" http:// http-huge 0
case_run 76 "$H: does not speak HTTP" http:// http-garbage 0

# The reply and the server's first bytes in one write: STARTTLS needs the
# greeting that came glued to the proxy's answer.
for mode in socks-glued http-glued; do
	prefix=socks5h://
	[ "$mode" = http-glued ] && prefix=http://
	reach_fake_start "$mode" 0 --target "127.0.0.1:$DC_POP3_PORT"
	PF_HOST=localhost PF_PORT=$DC_POP3_PORT pf_run "$mode" --starttls --keep \
	    --proxy "${prefix}127.0.0.1:$FAKE_PORT" --maildir "$T/$mode" \
	    --state-dir "$T/state-$mode"
	reach_stop "$FAKE_PID"
	assert_rc "$mode" 0
	assert_empty "$T/$mode.err" "stderr of $mode"
	[ "$(maildir_count "$T/$mode")" -eq 3 ] || fail "$mode: not 3 messages"
done
note "$n refused runs checked"
pass
