#!/bin/bash
# --syslog: the error line goes to syslog (facility LOG_MAIL) and nothing
# to stderr; so does "syslog on" in the config file's defaults block.
# The messages are read back through tests/lib/syslogns.sh (needs root;
# without it the test says "skipped: needs root" and exits 0).
. "$(dirname "$0")/../lib/common.sh"
. "$PF_LIB/syslogns.sh"
syslogns_need_root
pf_init
pf_server
pf_mailgen --count 3 --plain --seed 121

syslogns_start

# ns NAME ARGS...: pf_run-like, inside the namespace.
ns() {
	local name=$1
	shift
	timeout -k 5 120 unshare --mount bash "$T/ns.sh" "$T/log.sock" \
	    "$POPFETCH" --host localhost --port "$DC_POP3S_PORT" \
	    --user "$DC_USER" --ca-file "$DC_CA" --state-dir "$T/state" \
	    --timeout 30 "$@" </dev/null >"$T/$name.out" 2>"$T/$name.err"
	PF_RC=$?
	note "[ns] popfetch $* -> exit $PF_RC"
}

# mail_prio PRI: true when <PRI> is facility LOG_MAIL (2).
mail_prio() {
	[ $(($1 / 8)) -eq 2 ]
}

# 1. A wrong password with --syslog: exit 77, stderr empty, an error
# (LOG_MAIL | LOG_ERR = <19>) in syslog that names the failure.
wrong=wrong-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
printf '%s\n' "$wrong" >"$T/wrongpw"
ns bad --syslog --password-command "cat $T/wrongpw" --maildir "$T/mail"
assert_rc bad 77
assert_empty "$T/bad.err" "stderr with --syslog"
assert_empty "$T/bad.out" "stdout with --syslog"
wait_log 'popfetch(\[[0-9]+\])?: ' || {
	cat "$T/syslog.txt" >&2
	fail "no popfetch message reached the syslog socket"
}
line=$(grep -E 'popfetch(\[[0-9]+\])?: ' "$T/syslog.txt" | grep -iE \
    'auth|login|password|credential|reject|denied|fail' | head -n 1)
[ -n "$line" ] || { cat "$T/syslog.txt" >&2; fail "no error line in syslog"; }
pri=$(printf '%s' "$line" | sed -n 's/^<\([0-9]*\)>.*/\1/p')
[ -n "$pri" ] || fail "the syslog line has no <PRI>: $line"
mail_prio "$pri" || fail "facility is not LOG_MAIL: $line"
[ $((pri % 8)) -le 3 ] || fail "the error is not logged as LOG_ERR or worse: $line"
grep -qF -- "$wrong" "$T/syslog.txt" && fail "the (wrong) password reached syslog"

# The same failure without --syslog goes to stderr, not to syslog.
: >"$T/syslog.txt"
ns bad2 --password-command "cat $T/wrongpw" --maildir "$T/mail"
assert_rc bad2 77
grep -q '^popfetch: ' "$T/bad2.err" || fail "without --syslog: no stderr line"
sleep 0.3
[ ! -s "$T/syslog.txt" ] ||
    { cat "$T/syslog.txt" >&2; fail "without --syslog something went to syslog"; }

# 2. A successful --syslog run with --insecure: the warning goes to
# syslog (LOG_MAIL | LOG_WARNING = <20>), nothing on stderr.
ns insecure --syslog --insecure --password-command "cat $DC_PASS_FILE" \
    --maildir "$T/mail"
assert_rc insecure 0
assert_empty "$T/insecure.err" "stderr of --syslog --insecure"
wait_log 'insecure|not verif' ||
    { cat "$T/syslog.txt" >&2; fail "the --insecure warning is not in syslog"; }
line=$(grep -E 'insecure|not verif' "$T/syslog.txt" | head -n 1)
pri=$(printf '%s' "$line" | sed -n 's/^<\([0-9]*\)>.*/\1/p')
mail_prio "${pri:-0}" || fail "the warning's facility is not LOG_MAIL: $line"
[ "$(maildir_count "$T/mail")" -eq 3 ] || fail "the --syslog run did not fetch"
grep -qF -- "$(cat "$DC_PASS_FILE")" "$T/syslog.txt" &&
    fail "the password reached syslog"

# 3. "syslog on" in the defaults block does what --syslog does.
: >"$T/syslog.txt"
printf 'defaults\n  syslog on\naccount a\n  password_command cat %s\n  maildir %s\n' \
    "$T/wrongpw" "$T/mail" >"$T/sys.conf"
ns cfgsys -C "$T/sys.conf" a
assert_rc cfgsys 77
assert_empty "$T/cfgsys.err" "stderr with 'syslog on' in the config"
wait_log 'popfetch(\[[0-9]+\])?: a: ' || {
	cat "$T/syslog.txt" >&2
	fail "'syslog on' in the config sent nothing to syslog"
}
grep -qF -- "$wrong" "$T/syslog.txt" && fail "the (wrong) password reached syslog"
pass
