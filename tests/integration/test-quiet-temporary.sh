#!/bin/bash
# quiet_temporary (issue 13 item 8): under --quiet-temporary=N a temporary
# failure (exit 75) prints nothing until it is the N-th in a row for that
# account; the exit status stays 75; a success resets the count; the key
# works in the config file per account; the count is per account.
. "$(dirname "$0")/../lib/common.sh"
pf_init
pf_server
pf_mailgen --count 2 --plain --seed 301
closed=$(_dc_free_port)

# down NAME ARGS...: a run against a port nobody listens on.
down() {
	local name=$1
	shift
	pf_run_raw "$name" --host 127.0.0.1 --port "$closed" \
	    --user "$DC_USER" --password-command "cat $DC_PASS_FILE" \
	    --state-dir "$T/state" --timeout 10 --maildir "$T/mail" "$@"
}

# lines NAME: how many lines the run wrote to stderr.
lines() { wc -l <"$T/$1.err"; }

# 1. --quiet-temporary=3: the first two are silent, the third and later
# print one line; every run exits 75.
for i in 1 2 3 4; do
	down "d$i" --quiet-temporary=3
	assert_rc "d$i" 75
	assert_empty "$T/d$i.out" "stdout of run d$i"
done
assert_empty "$T/d1.err" "stderr of the 1st failure"
assert_empty "$T/d2.err" "stderr of the 2nd failure"
[ "$(lines d3)" -eq 1 ] || { show d3; fail "the 3rd failure did not print one line"; }
[ "$(lines d4)" -eq 1 ] || { show d4; fail "the 4th failure did not print one line"; }

# 2. A success resets the count: the next failure is silent again. The
# success is the same account (user@host:port): a proxy to Dovecot now
# listens on the port that was closed.
proxy_start --listen-port "$closed"
down ok --ca-file "$DC_CA" --quiet-temporary=3
assert_rc ok 0
[ "$(maildir_count "$T/mail")" -eq 2 ] || fail "the success run did not fetch"
proxy_stop
down after --quiet-temporary=2
assert_rc after 75
assert_empty "$T/after.err" "stderr of the first failure after a success"
down after2 --quiet-temporary=2
assert_rc after2 75
[ "$(lines after2)" -eq 1 ] || { show after2; fail "the 2nd failure after a success did not print"; }

# 3. Without the option every failure prints (nothing changed for cron
# lines that do not ask).
down plain
assert_rc plain 75
[ "$(lines plain)" -eq 1 ] || { show plain; fail "a plain failure did not print"; }

# 4. The config key, per account: 'a' is quiet for 2 failures, 'b' has
# no key and prints at once; the counts are per account.
cat >"$T/rc" <<CONF
defaults
  host 127.0.0.1
  port $closed
  user $DC_USER
  password_command "cat $DC_PASS_FILE"
  state_dir $T/state2
  timeout 10
account a
  maildir $T/ma
  quiet_temporary 2
account b
  user other
  maildir $T/mb
CONF
pf_run_raw ca1 -C "$T/rc" a
assert_rc ca1 75
assert_empty "$T/ca1.err" "stderr of account a's 1st failure"
pf_run_raw cb1 -C "$T/rc" b
assert_rc cb1 75
[ "$(lines cb1)" -eq 1 ] || { show cb1; fail "account b (no key) did not print"; }
pf_run_raw ca2 -C "$T/rc" a
assert_rc ca2 75
[ "$(lines ca2)" -eq 1 ] || { show ca2; fail "account a's 2nd failure did not print"; }
pf_run_raw show -C "$T/rc" --show-config a
assert_rc show 0
grep -q '^quiet_temporary 2' "$T/show.out" || { show show; fail "--show-config does not show quiet_temporary"; }

# 5. A bad value is a usage error.
down bad --quiet-temporary=x
assert_rc bad 64
pass
