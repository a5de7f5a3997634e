#!/bin/bash
# --starttls against Dovecot's plain port: the upgrade works, the
# capabilities are asked again after TLS, mail is fetched. When STLS is
# not offered (a proxy hides it from CAPA) or is refused (-ERR), the run
# stops with 77 before any USER/PASS/AUTH/APOP, never falling back to
# plain text.
. "$(dirname "$0")/../lib/common.sh"
pf_init
pf_server
pf_mailgen --count 3 --plain --seed 51

# stls_proxy NAME OPTIONS...: start ux_stlsproxy.py towards the plain
# port with its transcript in $T/NAME.wire; sets SP_PORT and SP_PID.
stls_proxy() {
	local name=$1 pf
	shift
	pf=$T/$name.port
	rm -f "$pf" "$T/$name.wire"
	python3 "$PF_LIB/ux_stlsproxy.py" --target "127.0.0.1:$DC_POP3_PORT" \
	    --portfile "$pf" --log-client "$T/$name.wire" "$@" \
	    </dev/null >>"$T/stlsproxy.log" 2>&1 &
	SP_PID=$!
	_pf_proxies+=("$SP_PID")
	for _ in $(seq 1 100); do
		[ -s "$pf" ] && break
		kill -0 "$SP_PID" 2>/dev/null || fail "ux_stlsproxy.py died"
		sleep 0.05
	done
	[ -s "$pf" ] || fail "ux_stlsproxy.py did not start"
	SP_PORT=$(cat "$pf")
}

# no_login NAME: the transcript must hold no login command.
no_login() {
	if grep -qiE '^(USER|PASS|APOP|AUTH)( |$)' "$T/$1.wire"; then
		cat "$T/$1.wire" >&2
		fail "$1: a login command was sent without TLS"
	fi
	grep -qF -- "$DC_PASS" "$T/$1.wire" &&
	    fail "$1: the password went on the wire"
	return 0
}

# 1. Straight to Dovecot: STLS, CAPA again, fetch.
PF_PORT=$DC_POP3_PORT pf_run direct -vv --starttls --maildir "$T/direct"
assert_rc direct 0
verify --maildir "$T/direct" || fail "--starttls did not deliver the corpus"
[ "$(dovecot_count_messages)" -eq 0 ] || fail "messages left on the server"
n=$(grep -c '> CAPA' "$T/direct.err")
[ "$n" -eq 2 ] || { show direct; fail "CAPA sent $n times, expected 2"; }
# The second CAPA comes after the STLS exchange and the handshake.
awk '/> CAPA/ { c++ } /> STLS/ { if (c != 1) bad = 1; s = 1 }
    /> CAPA/ && c == 2 && !s { bad = 1 }
    END { exit bad || !s }' "$T/direct.err" ||
    { show direct; fail "the trace is not CAPA, STLS, CAPA"; }
grep -q 'TLSv1\.[23]' "$T/direct.err" ||
    { show direct; fail "the trace shows no TLS version after STLS"; }
assert_no_secret "$T/direct.out" "$T/direct.err"

# 2. Through the proxy untouched: it still works (checks the proxy).
pf_mailgen --count 2 --plain --seed 52
stls_proxy pass
PF_PORT=$SP_PORT pf_run viaproxy --starttls --maildir "$T/viaproxy"
assert_rc viaproxy 0
verify --maildir "$T/viaproxy" || fail "--starttls via the proxy: not delivered"
grep -qi '^STLS' "$T/pass.wire" || fail "the proxy saw no STLS"
grep -qiE '^(USER|PASS|AUTH|APOP)( |$)' "$T/pass.wire" &&
    fail "a login command was seen in clear before STLS"

# 3. STLS not offered: 77 before any login.
pf_mailgen --count 2 --plain --seed 53
stls_proxy hidden --hide-stls
PF_PORT=$SP_PORT pf_run hidden --starttls --maildir "$T/hidden"
assert_rc hidden 77
grep -q '^popfetch: ' "$T/hidden.err" || fail "hidden: no error line"
[ "$(wc -l <"$T/hidden.err")" -eq 1 ] ||
    { show hidden; fail "hidden: more than one line on stderr"; }
grep -qi '^CAPA' "$T/hidden.wire" || fail "hidden: no CAPA seen (proxy?)"
grep -qi '^STLS' "$T/hidden.wire" && fail "hidden: STLS sent anyway"
no_login hidden
# The same with an explicit --auth user: policy beats the mechanism.
PF_PORT=$SP_PORT pf_run hidden2 --starttls --auth user --maildir "$T/hidden"
assert_rc hidden2 77
no_login hidden
[ "$(maildir_count "$T/hidden")" -eq 0 ] || fail "hidden: mail delivered"

# 4. STLS offered but refused with -ERR: 77, no fallback.
stls_proxy refused --refuse-stls
PF_PORT=$SP_PORT pf_run refused --starttls --maildir "$T/refused"
assert_rc refused 77
grep -qi '^STLS' "$T/refused.wire" || fail "refused: STLS was not tried"
no_login refused
[ "$(maildir_count "$T/refused")" -eq 0 ] || fail "refused: mail delivered"
[ "$(dovecot_count_messages)" -eq 2 ] || fail "a refused run deleted mail"
n=$(grep -c 'Login: user=' "$DC_LOG")
[ "$n" -eq 2 ] || fail "Dovecot logged $n logins, expected 2 (the good runs)"
pass
