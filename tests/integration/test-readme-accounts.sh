#!/bin/bash
# The README's and popfetchrc(5)'s example works as written (issue 13
# item 1), against a real Dovecot: "work" (deletes) and "archive : work"
# (keep on, delete_after 30, an mbox) read one mailbox. Their seen-state
# and lock are their own, so:
#  - -n -a beforehand predicts that both fetch everything;
#  - "popfetch archive" first: all into the mbox, nothing deleted;
#  - then "popfetch" (work): still all into ~/Mail/work, then deleted;
#  - the shared-mailbox warning at -v names both accounts.
# Also: the state popfetch 0.1.0 kept for the mailbox (user@host:port,
# which is still the state of a one-off --host run) is carried over to
# an account on its first run, and left in place; not to an account that
# shares the mailbox with others in its config (it fetches all instead).
. "$(dirname "$0")/../lib/common.sh"
pf_init
pf_server
pf_mailgen --count 5 --plain --seed 1313
n=$PF_NMSG
mkdir -p "$T/home/Mail"
export HOME=$T/home
unset XDG_CONFIG_HOME XDG_STATE_HOME
cat >"$HOME/.popfetchrc" <<EOF
defaults
  tls on
  keep off
  ca_file $DC_CA
  port $DC_POP3S_PORT

account work
  host localhost
  user $DC_USER
  password_command cat $DC_PASS_FILE
  maildir ~/Mail/work

account archive : work
  keep on
  delete_after 30
  mbox ~/Mail/archive.mbox

default work
EOF

pf_run_raw predict -n -a
assert_rc predict 0
for acct in "work: fetch+delete" "archive: fetch"; do
	[ "$(grep -c "^$acct message .*: new\$" "$T/predict.out")" -eq "$n" ] ||
	    { show predict; fail "-n -a does not predict '$acct' for all $n"; }
done

pf_run_raw archive -v archive
assert_rc archive 0
grep -q "accounts 'work' and 'archive' read the same mailbox" \
    "$T/archive.err" || { show archive; fail "no shared-mailbox warning"; }
[ "$(grep -c '^From ' "$HOME/Mail/archive.mbox")" -eq "$n" ] ||
    fail "archive did not put the $n messages into its mbox"
[ "$(dovecot_count_messages)" -eq "$n" ] || fail "archive deleted mail"
pf_run_raw predict2 -n work
assert_rc predict2 0
[ "$(grep -c "^work: fetch+delete message .*: new\$" "$T/predict2.out")" -eq "$n" ] ||
    { show predict2; fail "after archive, -n work does not predict all $n"; }

pf_run_raw work
assert_rc work 0
assert_empty "$T/work.err" "stderr of 'popfetch' (work) under cron"
verify --maildir "$HOME/Mail/work" --quiet ||
    fail "work did not get every message after archive ran (issue 13)"
[ "$(dovecot_count_messages)" -eq 0 ] || fail "work did not delete"

# A second run of archive: the server no longer has them; nothing more.
pf_run_raw archive2 archive
assert_rc archive2 0
[ "$(grep -c '^From ' "$HOME/Mail/archive.mbox")" -eq "$n" ] ||
    fail "archive fetched again"

# 0.1.0's state: keyed by user@host:port, as a one-off run still keeps
# it; a new account "legacy" on the mailbox finds those messages seen and
# fetches only the one that came after.
pf_mailgen --count 3 --plain --seed 1314
sdir=$HOME/.local/state/popfetch
old=$(printf '%s@localhost%%3A%s.state' "$DC_USER" "$DC_POP3S_PORT")
pf_run_raw oneoff --host localhost --port "$DC_POP3S_PORT" \
    --user "$DC_USER" --password-command "cat $DC_PASS_FILE" \
    --ca-file "$DC_CA" --keep --maildir "$T/oneoff"
assert_rc oneoff 0
[ -f "$sdir/$old" ] || { ls "$sdir" >&2; fail "no one-off state '$old'"; }
pf_mailgen --count 1 --plain --seed 1315
# the only account of its config on that mailbox: it takes the state over
cat >"$T/solo.rc" <<EOF
account solo
  host localhost
  port $DC_POP3S_PORT
  ca_file $DC_CA
  user $DC_USER
  password_command cat $DC_PASS_FILE
  keep on
  maildir ~/Mail/solo
EOF
pf_run_raw solo -C "$T/solo.rc" -v
assert_rc solo 0
grep -q "carried over: 3 messages" "$T/solo.err" ||
    { show solo; fail "0.1.0's state was not carried over"; }
[ "$(maildir_count "$HOME/Mail/solo")" -eq 1 ] ||
    fail "solo fetched what 0.1.0's state had as seen"
[ -f "$sdir/solo.state" ] || fail "no state of its own for 'solo'"
[ -f "$sdir/$old" ] || fail "the mailbox's 0.1.0 state was removed"
# one of several accounts on the mailbox: whose records are whose cannot
# be told, so it takes nothing over and fetches all that is there
printf '\naccount legacy : work\n  keep on\n  maildir ~/Mail/legacy\n' \
    >>"$HOME/.popfetchrc"
pf_run_raw legacy legacy
assert_rc legacy 0
grep -q "not carrying over the seen-state of '$DC_USER@localhost:$DC_POP3S_PORT' (popfetch 0.1.0): other accounts read this mailbox too" \
    "$T/legacy.err" || { show legacy; fail "no word on the state not taken"; }
[ "$(maildir_count "$HOME/Mail/legacy")" -eq 4 ] ||
    fail "legacy did not fetch the 4 messages on the server"
pass
