#!/bin/bash
# Fetch through a real SOCKS5 server (Dante) on loopback:
# - socks5:// and socks5h://, implicit TLS and STARTTLS, every message
#   delivered once, the proxy's log showing the connection;
# - socks5h:// to a name only the proxy can resolve (the hostshim in
#   danted): it works, and popfetch itself looked up no name but the
#   proxy's (the hostshim in popfetch logs its lookups); socks5:// with the
#   same name fails to resolve, so the check can fail;
# - the certificate is checked against the POP3 name, not the proxy's: a
#   second name that resolves (at the proxy) to the same server but is not
#   in its certificate is refused (77);
# - user name and password (RFC 1929) against the system password
#   database with a throwaway user: right password fetches, a wrong one
#   and none are refused (77), one clear line each, and the password
#   appears in no output and in neither popfetch's nor the password
#   command's /proc cmdline or environ;
# - a ruleset that blocks the server's port: 77, one line, nothing deleted.
. "$(dirname "$0")/../lib/common.sh"
. "$PF_LIB/reach.sh"
pf_init
reach_init
command -v danted >/dev/null || fail "danted is not installed (dante-server)"
pf_server --cert proxied
HOSTS="pop.via-proxy.test=127.0.0.1 other.via-proxy.test=127.0.0.1"
SHIM=$(reach_shim)

# run_shim NAME ARGS...: pf_run with the hostshim logging popfetch's lookups
run_shim() {
	local name=$1
	shift
	: >"$T/$name.lookups"
	LD_PRELOAD=$SHIM PF_HOSTS_LOG=$T/$name.lookups \
	    ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
	    pf_run "$name" "$@"
}

reach_dante_start --hosts "$HOSTS"
note "danted on port $DANTE_PORT"

# socks5:// with an address, implicit TLS, verified against the IP SAN.
pf_mailgen --count 20 --plain --seed 1
PF_HOST=127.0.0.1 pf_run s5 --proxy "socks5://127.0.0.1:$DANTE_PORT" \
    --maildir "$T/m1"
assert_rc s5 0
assert_empty "$T/s5.err" "stderr of the socks5 run"
verify --maildir "$T/m1" || fail "socks5: the Maildir does not hold the corpus"
grep -qE "tcp/connect \[.*127\.0\.0\.1\.$DC_POP3S_PORT" "$DANTE_LOG" ||
    fail "dante's log does not show the connection to the server"

# socks5h:// to a name only dante resolves; popfetch resolves only the proxy.
pf_mailgen --count 20 --plain --seed 2
PF_HOST=pop.via-proxy.test run_shim s5h \
    --proxy "socks5h://127.0.0.1:$DANTE_PORT" --maildir "$T/m2"
assert_rc s5h 0
assert_empty "$T/s5h.err" "stderr of the socks5h run"
verify --maildir "$T/m2" || fail "socks5h: the Maildir does not hold the corpus"
if grep -qv '^127\.0\.0\.1$' "$T/s5h.lookups"; then
	cat "$T/s5h.lookups" >&2
	fail "popfetch resolved a name itself with socks5h://"
fi
grep -qx '127.0.0.1' "$T/s5h.lookups" ||
    fail "the hostshim saw no lookup at all (is it preloaded?)"

# The same name with socks5:// is resolved here, where it does not exist
# (68, issue 13).
pf_mailgen --count 3 --plain --seed 3
PF_HOST=pop.via-proxy.test run_shim s5local \
    --proxy "socks5://127.0.0.1:$DANTE_PORT" --maildir "$T/m3"
assert_rc s5local 68
assert_one_line s5local
grep -q "'pop.via-proxy.test' does not exist" "$T/s5local.err" ||
    fail "socks5:// did not resolve the server name itself"
grep -qx 'pop.via-proxy.test' "$T/s5local.lookups" ||
    fail "the hostshim did not see popfetch resolve the name"

# STARTTLS through socks5h, checked against the POP3 name.
PF_HOST=pop.via-proxy.test PF_PORT=$DC_POP3_PORT pf_run stls \
    --starttls --proxy "socks5h://127.0.0.1:$DANTE_PORT" --maildir "$T/m3"
assert_rc stls 0
[ "$(maildir_count "$T/m3")" -eq 3 ] || fail "STARTTLS via socks5h: not 3 messages"

# socks5:// with a name resolved here to two addresses (the hostshim):
# nothing listens on 127.0.0.3, the proxy says "connection refused" (5),
# and the next address is tried through the proxy.
pf_mailgen --count 2 --plain --seed 6 --start 200
PF_HOSTS="localhost=127.0.0.3,127.0.0.1" PF_HOST=localhost run_shim s5two \
    -vv --proxy "socks5://127.0.0.1:$DANTE_PORT" --maildir "$T/m2b"
assert_rc s5two 0
[ "$(maildir_count "$T/m2b")" -eq 2 ] || fail "socks5:// with two addresses: not 2 messages"
grep -q "CONNECT 127.0.0.3:$DC_POP3S_PORT" "$T/s5two.err" &&
    grep -q "CONNECT 127.0.0.1:$DC_POP3S_PORT" "$T/s5two.err" ||
    fail "socks5:// did not try the addresses in turn"
grep -qx localhost "$T/s5two.lookups" || fail "socks5:// did not resolve the name here"

# A name that reaches the same server but is not in its certificate.
pf_mailgen --count 2 --plain --seed 4 --start 100
PF_HOST=other.via-proxy.test pf_run wrongname \
    --proxy "socks5h://127.0.0.1:$DANTE_PORT" --maildir "$T/m4"
assert_rc wrongname 77
assert_one_line wrongname
grep -q "certificate verification failed for 'other.via-proxy.test'" \
    "$T/wrongname.err" || fail "the certificate was not checked against the POP3 name"
[ "$(dovecot_count_messages)" -eq 2 ] || fail "messages vanished after a refused certificate"
reach_stop "$DANTE_PID"

# Ruleset: the server's port is blocked.
reach_dante_start --block-port "$DC_POP3S_PORT"
PF_HOST=127.0.0.1 pf_run blocked --proxy "socks5://127.0.0.1:$DANTE_PORT" \
    --maildir "$T/m5"
assert_rc blocked 77
assert_one_line blocked
grep -q "refused to connect to '127.0.0.1:$DC_POP3S_PORT': connection not allowed by ruleset" \
    "$T/blocked.err" || fail "the ruleset refusal is not worded as such"
[ "$(dovecot_count_messages)" -eq 2 ] || fail "messages vanished after a refusal"
reach_stop "$DANTE_PID"

# User name and password against the system password database.
if [ "$(id -u)" -ne 0 ]; then
	note "not root: skipping dante's username method (needs a system user)"
	pass
fi
reach_user
reach_dante_start --auth --hosts "$HOSTS"
PF_HOST=pop.via-proxy.test pf_run noauth \
    --proxy "socks5h://127.0.0.1:$DANTE_PORT" --maildir "$T/m6"
assert_rc noauth 77
assert_one_line noauth
grep -q "requires authentication" "$T/noauth.err" || fail "no hint to give a user"

printf 'not-the-password\n' >"$T/wrong-pass"
PF_HOST=pop.via-proxy.test pf_run badpass \
    --proxy "socks5h://$REACH_USER@127.0.0.1:$DANTE_PORT" \
    --proxy-password-command "cat $T/wrong-pass" --maildir "$T/m6"
assert_rc badpass 77
assert_one_line badpass
grep -q "rejected the user name or password for '$REACH_USER'" "$T/badpass.err" ||
    fail "the rejected password is not worded as such"
[ "$(dovecot_count_messages)" -eq 2 ] || fail "messages vanished after a refusal"

# The right password, with -vv (the trace must not show it either), while
# the /proc entries of popfetch and its password command are inspected.
cat >"$T/slowpass" <<EOF
#!/bin/sh
cat '$REACH_PASS_FILE'
sleep 2
EOF
chmod 0700 "$T/slowpass"
(
	# the test's own secrets stay out of popfetch's environment
	export -n DC_PASS REACH_PASS
	PF_HOST=pop.via-proxy.test pf_run goodpass -vv \
	    --proxy "socks5h://$REACH_USER@127.0.0.1:$DANTE_PORT" \
	    --proxy-password-command "$T/slowpass" --maildir "$T/m6"
	echo "$PF_RC" >"$T/goodpass.rc"
) &
runner=$!
seen=0
for _ in $(seq 1 30); do
	for pid in $(reach_pids_of "slowpass|popfetch .*--proxy"); do
		assert_proc_clean "$pid" "$REACH_PASS" "$DC_PASS"
		seen=$((seen + 1))
	done
	sleep 0.1
done
wait "$runner"
[ "$seen" -gt 0 ] || fail "never saw popfetch or its password command running"
PF_RC=$(cat "$T/goodpass.rc")
assert_rc goodpass 0
[ "$(maildir_count "$T/m6")" -eq 2 ] || fail "the authenticated run did not fetch"
grep -q "authenticating as '$REACH_USER'" "$T/goodpass.err" ||
    fail "the trace does not show the proxy login"
for f in "$T"/*.out "$T"/*.err "$DANTE_LOG"; do
	assert_no_text "$REACH_PASS" "$f"
	assert_no_secret "$f"
done
pass
