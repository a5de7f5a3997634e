#!/bin/bash
# Nothing listens on the port: exit 75 quickly, one error line.
. "$(dirname "$0")/../lib/common.sh"
pf_init
# A port that was free a moment ago and that nobody listens on.
port=$(_dc_free_port)
printf 'x\n' >"$T/pw"
pf_run_raw closed --host 127.0.0.1 --port "$port" --user nobody \
    --password-command "cat $T/pw" --state-dir "$T/state" --timeout 10 \
    --maildir "$T/mail"
assert_rc closed 75
awk -v s="$PF_SECS" 'BEGIN { exit !(s < 3) }' || fail "took ${PF_SECS}s (want < 3 s)"
grep -q '^popfetch: ' "$T/closed.err" || { show closed; fail "no 'popfetch: ' error line"; }
[ "$(wc -l <"$T/closed.err")" -eq 1 ] || { show closed; fail "more than one line on stderr"; }
[ "$(maildir_count "$T/mail")" -eq 0 ] || fail "something was delivered"

# "localhost" may resolve to ::1 and 127.0.0.1: both refused, still 75.
pf_run_raw closed6 --host localhost --port "$port" --user nobody \
    --password-command "cat $T/pw" --state-dir "$T/state" --timeout 10 \
    --maildir "$T/mail"
assert_rc closed6 75
pass
