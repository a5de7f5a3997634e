#!/bin/bash
# Certificate problems stop the run with 77 before any login: a server
# certificate for another name, and a CA popfetch was not told to trust.
# Under TLS the proxy sees only ciphertext, so Dovecot's log is the
# witness (auth_verbose = yes logs every attempt).
. "$(dirname "$0")/../lib/common.sh"
pf_init

check_no_login() {
	local n
	n=$(dovecot_login_attempts)
	[ "$n" -eq 0 ] || { grep auth "$DC_LOG" >&2; fail "$1: $n login attempts reached dovecot"; }
	[ "$(dovecot_count_messages)" -eq 5 ] || fail "$1: messages were deleted"
	[ "$(maildir_count "$T/mail")" -eq 0 ] || fail "$1: messages were delivered"
	grep -q '^popfetch: ' "$T/$1.err" || { show "$1"; fail "$1: no 'popfetch: ' error line"; }
	assert_no_secret "$T/$1.out" "$T/$1.err"
}

# 1. The server presents a certificate for wrong.example.
pf_server --cert wronghost
pf_mailgen --count 5 --plain --seed 51
pf_run wrongname --maildir "$T/mail"
assert_rc wrongname 77
check_no_login wrongname

# 1b. The same over STLS: the plain part carries no login either.
proxy_start --target "127.0.0.1:$DC_POP3_PORT" --log-client "$T/client.log"
PF_PORT=$PROXY_PORT pf_run wrongstls --starttls --maildir "$T/mail"
assert_rc wrongstls 77
check_no_login wrongstls
if grep -E '^(USER|PASS|APOP|AUTH [A-Za-z])' "$T/client.log"; then
	fail "a login command was sent before the TLS upgrade"
fi
grep -q '^STLS' "$T/client.log" || fail "no STLS in the transcript"
proxy_stop
dovecot_stop

# 2. A good certificate from a CA that popfetch does not trust.
rm -rf "$T/dc"
pf_server
pf_mailgen --count 5 --plain --seed 52
pf_run_raw untrusted --host localhost --port "$DC_POP3S_PORT" \
    --user "$DC_USER" --password-command "cat $DC_PASS_FILE" \
    --state-dir "$T/state" --timeout 30 --maildir "$T/mail"
assert_rc untrusted 77
check_no_login untrusted

# 3. Control: with the CA it works, so the refusals were about trust.
pf_run trusted --maildir "$T/mail"
assert_rc trusted 0
verify --maildir "$T/mail" || fail "the trusted run did not deliver exactly"
pass
