#!/bin/bash
# Cron behaviour, stdout and stderr redirected to files: a successful
# fetch prints nothing at all; a failure prints exactly one line starting
# "popfetch: " (also with -q); a successful run with --insecure or with a
# clear-text password the user asked for prints exactly that one warning,
# and with -q nothing.
. "$(dirname "$0")/../lib/common.sh"
pf_init
pf_server
pf_mailgen --count 5 --plain --seed 101

# silent NAME: the run printed nothing at all.
silent() {
	assert_empty "$T/$1.out" "stdout of run '$1'"
	assert_empty "$T/$1.err" "stderr of run '$1'"
}

# one_line NAME: stderr is one line starting "popfetch: ", stdout empty.
one_line() {
	local n
	n=$(wc -l <"$T/$1.err")
	[ "$n" -eq 1 ] || { show "$1"; fail "$1: $n lines on stderr, expected 1"; }
	grep -q '^popfetch: ' "$T/$1.err" ||
	    { show "$1"; fail "$1: the line does not start with 'popfetch: '"; }
	# A single line means a final newline, not a half-written one.
	[ "$(tail -c 1 "$T/$1.err" | od -An -c | tr -d ' ')" = '\n' ] ||
	    fail "$1: the error line does not end with a newline"
	assert_empty "$T/$1.out" "stdout of run '$1'"
}

# 1. Success: nothing. Then an empty run: still nothing.
pf_run ok --maildir "$T/mail"
assert_rc ok 0
silent ok
[ "$(maildir_count "$T/mail")" -eq 5 ] || fail "the fetch did not deliver"
pf_run empty --maildir "$T/mail"
assert_rc empty 0
silent empty

# 2. Failures, with and without -q.
pf_mailgen --count 2 --plain --seed 102 --start 10
printf 'wrong-%s\n' "$(cat "$DC_PASS_FILE")" >"$T/wrongpw"
for q in "" -q; do
	pf_run_raw "badpw$q" $q --host localhost --port "$DC_POP3S_PORT" \
	    --user "$DC_USER" --password-command "cat $T/wrongpw" \
	    --ca-file "$DC_CA" --state-dir "$T/state" --timeout 30 \
	    --maildir "$T/mail"
	assert_rc "badpw$q" 77
	one_line "badpw$q"

	port=$(_dc_free_port)
	pf_run_raw "refused$q" $q --host 127.0.0.1 --port "$port" \
	    --user "$DC_USER" --password-command "cat $DC_PASS_FILE" \
	    --state-dir "$T/state" --timeout 10 --maildir "$T/mail"
	assert_rc "refused$q" 75
	one_line "refused$q"

	# A certificate without our CA: rejected.
	pf_run_raw "cert$q" $q --host localhost --port "$DC_POP3S_PORT" \
	    --user "$DC_USER" --password-command "cat $DC_PASS_FILE" \
	    --state-dir "$T/state" --timeout 30 --maildir "$T/mail"
	assert_rc "cert$q" 77
	one_line "cert$q"

	# The password command fails.
	pf_run "pwcmd$q" $q --password-command "exit 3" --maildir "$T/mail"
	assert_rc "pwcmd$q" 78
	one_line "pwcmd$q"

	# The delivery target cannot be created.
	: >"$T/notadir"
	pf_run "target$q" $q --maildir "$T/notadir/mail"
	assert_rc "target$q" 73
	one_line "target$q"
done
[ "$(dovecot_count_messages)" -eq 2 ] || fail "a failed run deleted mail"

# 3. --insecure: exactly the one warning; -q: nothing.
pf_run insecure --keep --all --insecure --maildir "$T/m-insecure"
assert_rc insecure 0
one_line insecure
grep -qi 'insecure\|not verif' "$T/insecure.err" ||
    { show insecure; fail "the one line is not the --insecure warning"; }
pf_run insecureq -q --keep --all --insecure --maildir "$T/m-insecureq"
assert_rc insecureq 0
silent insecureq
[ "$(maildir_count "$T/m-insecureq")" -eq 2 ] || fail "-q --insecure fetched nothing"

# 4. A clear-text password by choice: one warning; -q: nothing.
PF_PORT=$DC_POP3_PORT pf_run clear --keep --all --no-tls --auth user \
    --maildir "$T/m-clear"
assert_rc clear 0
one_line clear
grep -qi 'clear.text' "$T/clear.err" ||
    { show clear; fail "the one line is not the clear-text warning"; }
PF_PORT=$DC_POP3_PORT pf_run clearq -q --keep --all --no-tls --auth user \
    --maildir "$T/m-clearq"
assert_rc clearq 0
silent clearq

# 5. Success with -q is silent too (and fetches).
pf_run okq -q --maildir "$T/mail"
assert_rc okq 0
silent okq
[ "$(dovecot_count_messages)" -eq 0 ] || fail "the -q run did not fetch"
pass
