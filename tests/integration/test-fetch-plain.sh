#!/bin/bash
# Plain POP3 (--no-tls): with --auth user the corpus arrives exactly, with
# a clear-text warning on stderr; without --auth the run stops with 77
# before any password leaves the client.
. "$(dirname "$0")/../lib/common.sh"
pf_init
# Only clear-text mechanisms, so --auth auto has nothing safe to pick.
pf_server --mechs "plain login"
pf_mailgen --count 500 --big --seed 12
proxy_start --target "127.0.0.1:$DC_POP3_PORT" --log-client "$T/client.log"

# 1. No --auth over --no-tls: refused, exit 77, no password sent.
: >"$T/client.log"
PF_HOST=127.0.0.1 PF_PORT=$PROXY_PORT pf_run auto --no-tls --maildir "$T/mail"
assert_rc auto 77
grep -q '^popfetch: ' "$T/auto.err" || { show auto; fail "no 'popfetch: ' error line"; }
if grep -E '^(PASS|APOP|AUTH [A-Za-z])' "$T/client.log"; then
	fail "a login command reached the server without --auth"
fi
[ "$(dovecot_count_messages)" -eq 500 ] || fail "messages were deleted"
[ "$(maildir_count "$T/mail")" -eq 0 ] || fail "messages were delivered"
assert_no_secret "$T/auto.out" "$T/auto.err"

# 2. --auth user: works, warns about the clear-text password.
: >"$T/client.log"
PF_HOST=127.0.0.1 PF_PORT=$PROXY_PORT pf_run user --no-tls --auth user \
    --maildir "$T/mail"
assert_rc user 0
grep -q '^PASS ' "$T/client.log" || fail "no PASS in the transcript"
[ -s "$T/user.err" ] || fail "no clear-text warning on stderr"
grep -qiE 'clear|plain|unencrypted|insecure' "$T/user.err" ||
    { show user; fail "the warning does not mention clear text"; }
assert_empty "$T/user.out" "stdout"
assert_no_secret "$T/user.out" "$T/user.err"
verify --maildir "$T/mail" --originals "$DC_MAILDIR" ||
    fail "the Maildir does not hold exactly the corpus"
[ "$(maildir_tmp_count "$T/mail")" -eq 0 ] || fail "tmp/ is not empty"
n=$(dovecot_count_messages)
[ "$n" -eq 0 ] || fail "$n messages are still on the server"

# 3. -q silences the warning.
pf_mailgen --count 3 --plain --seed 13 --start 1000
PF_HOST=127.0.0.1 PF_PORT=$PROXY_PORT pf_run quiet -q --no-tls --auth user \
    --maildir "$T/mail2"
assert_rc quiet 0
assert_empty "$T/quiet.err" "stderr with -q"
verify --maildir "$T/mail2" || fail "the -q run did not deliver exactly"
pass
