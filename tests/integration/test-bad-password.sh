#!/bin/bash
# A wrong password: exit 77, one line on stderr, nothing fetched or
# deleted, the wrong password never shown.
. "$(dirname "$0")/../lib/common.sh"
pf_init
pf_server
pf_mailgen --count 10 --plain --seed 31
wrong=wrong-$DC_PASS
printf '%s\n' "$wrong" >"$T/wrongpw"

pf_run_raw bad --host localhost --port "$DC_POP3S_PORT" --user "$DC_USER" \
    --password-command "cat $T/wrongpw" --ca-file "$DC_CA" \
    --state-dir "$T/state" --timeout 30 --maildir "$T/mail"
assert_rc bad 77
[ "$(dovecot_count_messages)" -eq 10 ] || fail "messages were deleted"
[ "$(maildir_count "$T/mail")" -eq 0 ] || fail "messages were delivered"
grep -q '^popfetch: ' "$T/bad.err" || { show bad; fail "no 'popfetch: ' error line"; }
[ "$(wc -l <"$T/bad.err")" -eq 1 ] || { show bad; fail "more than one line on stderr"; }
grep -qF -- "$wrong" "$T/bad.err" "$T/bad.out" && fail "the password is shown"
grep -q 'Password mismatch\|auth failed\|auth attempts: [1-9]' "$DC_LOG" ||
    fail "dovecot saw no failed login"

# The same with a right password still works afterwards (no lockout).
pf_run good --maildir "$T/mail"
assert_rc good 0
verify --maildir "$T/mail" || fail "the good run did not deliver the corpus"
pass
