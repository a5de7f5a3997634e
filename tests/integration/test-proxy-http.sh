#!/bin/bash
# Fetch through a real HTTP proxy (tinyproxy) with CONNECT on loopback:
# - no authentication: implicit TLS to a name only the proxy resolves
#   (popfetch looks up no name but the proxy's), every message once;
#   STARTTLS the same way; the certificate checked against the POP3 name;
# - Basic authentication with the user in the URL and the password from
#   proxy_password_command: right password fetches; a wrong one or none
#   gets 407 (or tinyproxy's 401) -> 77, one line naming the proxy; the password is in no
#   output and not in popfetch's /proc cmdline or environ;
# - a CONNECT to a port the proxy does not allow: 403 -> 77; to a closed
#   port: the proxy's 500 -> 75; nothing deleted on the server.
. "$(dirname "$0")/../lib/common.sh"
. "$PF_LIB/reach.sh"
pf_init
reach_init
command -v tinyproxy >/dev/null || fail "tinyproxy is not installed"
pf_server --cert proxied
HOSTS="pop.via-proxy.test=127.0.0.1 other.via-proxy.test=127.0.0.1"
SHIM=$(reach_shim)

reach_tinyproxy_start --connect-port "$DC_POP3S_PORT" \
    --connect-port "$DC_POP3_PORT" --hosts "$HOSTS"
note "tinyproxy on port $TP_PORT"
URL=http://127.0.0.1:$TP_PORT

pf_mailgen --count 20 --plain --seed 1
: >"$T/lookups"
LD_PRELOAD=$SHIM PF_HOSTS_LOG=$T/lookups \
    ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
    PF_HOST=pop.via-proxy.test pf_run plain --proxy "$URL" --maildir "$T/m1"
assert_rc plain 0
assert_empty "$T/plain.err" "stderr of the run through tinyproxy"
verify --maildir "$T/m1" || fail "the Maildir does not hold the corpus"
if grep -qv '^127\.0\.0\.1$' "$T/lookups"; then
	cat "$T/lookups" >&2
	fail "popfetch resolved a name itself through an HTTP proxy"
fi
grep -q "CONNECT pop.via-proxy.test:$DC_POP3S_PORT" "$TP_LOG" ||
    fail "tinyproxy's log does not show the CONNECT"

pf_mailgen --count 3 --plain --seed 2
PF_HOST=pop.via-proxy.test PF_PORT=$DC_POP3_PORT pf_run stls --starttls \
    --proxy "$URL/" --maildir "$T/m2"
assert_rc stls 0
[ "$(maildir_count "$T/m2")" -eq 3 ] || fail "STARTTLS through tinyproxy: not 3 messages"

pf_mailgen --count 2 --plain --seed 3 --start 100
PF_HOST=other.via-proxy.test pf_run wrongname --proxy "$URL" --maildir "$T/m3"
assert_rc wrongname 77
assert_one_line wrongname
grep -q "certificate verification failed for 'other.via-proxy.test'" \
    "$T/wrongname.err" || fail "the certificate was not checked against the POP3 name"

# Only the POP3S port may be reached: the plain port gets 403.
reach_stop "$TP_PID"
reach_tinyproxy_start --connect-port "$DC_POP3S_PORT"
URL=http://127.0.0.1:$TP_PORT
PF_HOST=127.0.0.1 PF_PORT=$DC_POP3_PORT pf_run forbidden --starttls \
    --proxy "$URL" --maildir "$T/m3"
assert_rc forbidden 77
assert_one_line forbidden
grep -q "HTTP proxy '127.0.0.1:$TP_PORT' refused to connect to '127.0.0.1:$DC_POP3_PORT': 403" \
    "$T/forbidden.err" || fail "the 403 is not reported as a refusal"

# A closed port behind the proxy: tinyproxy answers 500, a temporary failure.
reach_stop "$TP_PID"
closed=$(_dc_free_port)
reach_tinyproxy_start
URL=http://127.0.0.1:$TP_PORT
PF_HOST=127.0.0.1 PF_PORT=$closed pf_run closed --proxy "$URL" --maildir "$T/m3"
assert_rc closed 75
assert_one_line closed
grep -q "could not connect to '127.0.0.1:$closed': 500" "$T/closed.err" ||
    fail "the proxy's 500 is not reported as a failed connection"
[ "$(dovecot_count_messages)" -eq 2 ] || fail "messages vanished after refusals"

# Basic authentication.
reach_stop "$TP_PID"
PROXY_USER=bob
PROXY_PASS="hp-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')-secret"
(umask 077 && printf '%s\n' "$PROXY_PASS" >"$T/proxy-pass")
printf 'wrong-%s\n' "$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')" >"$T/wrong-pass"
reach_tinyproxy_start --auth "$PROXY_USER" "$PROXY_PASS" \
    --connect-port "$DC_POP3S_PORT"
URL=http://127.0.0.1:$TP_PORT

PF_HOST=127.0.0.1 pf_run nouser --proxy "$URL" --maildir "$T/m4"
assert_rc nouser 77
assert_one_line nouser
grep -q "407 Proxy Authentication Required (give a user in the proxy URL" \
    "$T/nouser.err" || fail "a 407 without a user gives no hint"

PF_HOST=127.0.0.1 pf_run badpass --proxy "http://$PROXY_USER@127.0.0.1:$TP_PORT" \
    --proxy-password-command "cat $T/wrong-pass" --maildir "$T/m4"
assert_rc badpass 77
assert_one_line badpass
# tinyproxy 1.11 answers wrong credentials with 401, none with 407
grep -qE ": 40[17] .*\(check the proxy user and proxy_password_command\)" \
    "$T/badpass.err" || fail "a wrong proxy password is not refused as such"
[ "$(dovecot_count_messages)" -eq 2 ] || fail "messages vanished after refusals"

cat >"$T/slowpass" <<EOF
#!/bin/sh
cat '$T/proxy-pass'
sleep 2
EOF
chmod 0700 "$T/slowpass"
(
	export -n DC_PASS
	PF_HOST=127.0.0.1 pf_run goodpass -vv \
	    --proxy "http://$PROXY_USER@127.0.0.1:$TP_PORT" \
	    --proxy-password-command "$T/slowpass" --maildir "$T/m4"
	echo "$PF_RC" >"$T/goodpass.rc"
) &
runner=$!
seen=0
for _ in $(seq 1 30); do
	for pid in $(reach_pids_of "slowpass|popfetch .*--proxy"); do
		assert_proc_clean "$pid" "$PROXY_PASS" "$DC_PASS"
		seen=$((seen + 1))
	done
	sleep 0.1
done
wait "$runner"
[ "$seen" -gt 0 ] || fail "never saw popfetch or its password command running"
PF_RC=$(cat "$T/goodpass.rc")
assert_rc goodpass 0
[ "$(maildir_count "$T/m4")" -eq 2 ] || fail "the authenticated run did not fetch"
grep -q "Proxy-Authorization: Basic \*" "$T/goodpass.err" ||
    fail "the trace does not show the masked Proxy-Authorization"
b64=$(printf '%s:%s' "$PROXY_USER" "$PROXY_PASS" | base64 -w0)
for f in "$T"/*.out "$T"/*.err; do
	assert_no_text "$PROXY_PASS" "$f"
	assert_no_text "$b64" "$f"
	assert_no_secret "$f"
done
pass
