#!/bin/bash
# popfetch started with SIGCHLD ignored (docs/faults.md #97): a parent
# that ignores it (some daemons and job runners do) passes that on across
# exec, and the kernel would then reap every child at once, so the exit
# status of the password command and of the MDA would be lost. popfetch
# sets SIGCHLD back to its default first. Checked through a wrapper that
# ignores SIGCHLD and then execs popfetch:
#  - a password command that exits 1 is reported as such (exit 78);
#  - an MDA that exits 1 fails the run (exit 74) and deletes nothing;
#  - with -j 2, two accounts run in worker processes (exit 0);
#  - an MDA that exits 0 delivers every message (exit 0, server empty).
. "$(dirname "$0")/../lib/common.sh"
pf_init
pf_server
pf_mailgen --count 5 --plain --size 200:2000 --seed 97

real=$POPFETCH
printf '%s\n' '#!/usr/bin/python3' 'import os, signal, sys' \
    'signal.signal(signal.SIGCHLD, signal.SIG_IGN)' \
    "os.execv(\"$real\", [\"$real\"] + sys.argv[1:])" >"$T/wrap"
chmod +x "$T/wrap"
POPFETCH=$T/wrap

pf_run_raw badpass --host localhost --port "$DC_POP3S_PORT" \
    --user "$DC_USER" --password-command false --ca-file "$DC_CA" \
    --state-dir "$T/state" --timeout 30 --mda "cat >/dev/null"
assert_rc badpass 78
grep -q "the password command failed (exit 1)" "$T/badpass.err" ||
    { show badpass; fail "the password command's exit 1 was not seen"; }

pf_run mdafail --mda "cat >/dev/null; exit 1"
assert_rc mdafail 74
grep -q "exited 1" "$T/mdafail.err" ||
    { show mdafail; fail "the MDA's exit 1 was not seen"; }
[ "$(dovecot_count_messages)" -eq "$PF_NMSG" ] ||
    fail "messages left the server after the MDA failed"

{
	printf 'defaults\n  host localhost\n  port %s\n  ca_file %s\n' \
	    "$DC_POP3S_PORT" "$DC_CA"
	printf '  password_command cat %s\n  state_dir %s\n  keep on\n' \
	    "$DC_PASS_FILE" "$T/state"
	printf '  user %s\n  mda cat >/dev/null\n' "$DC_USER"
	printf 'account one\naccount two\n'
} >"$T/rc"
chmod 600 "$T/rc"
pf_run_raw jobs -C "$T/rc" -j 2 -a
assert_rc jobs 0

pf_run mdaok --mda "cat >/dev/null"
assert_rc mdaok 0
[ "$(dovecot_count_messages)" -eq 0 ] || fail "messages left on the server"
pass
