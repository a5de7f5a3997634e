#!/bin/bash
# Real procmail as the MDA: `--mda 'procmail -m RCFILE'` with DEFAULT set to
# a Maildir, for the nasty corpus (225 messages with the 5 MB one) from the
# real Dovecot; then a second batch with `procmail -f %F -m RCFILE`, whose
# log (LOGABSTRACT) shows the From_ line procmail built from -f.
# procmail's Maildir delivery stores the message exactly as it reads it:
# the From_ line it makes up (or takes from -f) is not written to a Maildir,
# and it adds nothing else (measured with procmail 3.24: no change at all;
# it would take a leading "From " line as the envelope, but popfetch's
# Received field always comes first). So every file must be byte-identical
# to the message, which verify.py --maildir checks without any stripping
# beyond popfetch's own Received field.
. "$(dirname "$0")/../lib/common.sh"
pf_init
command -v procmail >/dev/null || fail "procmail is not installed"
pf_server
pf_mailgen --count 225 --big --seed 31
[ "$(dovecot_count_messages)" -eq 225 ] || fail "the corpus is not on the server"
DCK="python3 $PF_LIB/deliver_check.py"

mkdir -p "$T/pm/new" "$T/pm/cur" "$T/pm/tmp" "$T/work"
cat >"$T/rc" <<EOF
DEFAULT=$T/pm/
LOGFILE=$T/procmail.log
VERBOSE=no
EOF
cd "$T/work" || fail "cd"
pf_run mda -v --mda "procmail -m $T/rc"
assert_rc mda 0
grep -v -e '^popfetch: message [0-9]* (uid [^)]*, [0-9]* octets) delivered to' \
    -e '^popfetch: message [0-9]* (uid [^)]*) marked for deletion' \
    -e '^popfetch: 225 new, 225 delivered, 225 deleted, 0 left, ' \
    "$T/mda.err" >"$T/mda.other"
# -v prints one line per message and per DELE and the summary line;
# nothing else may appear.
assert_empty "$T/mda.other" "-v output besides the per-message lines"
[ "$(grep -c '^popfetch: 225 new, 225 delivered, 225 deleted, 0 left, ' \
    "$T/mda.err")" -eq 1 ] || fail "-v does not end with one summary line"
[ "$(grep -c 'delivered to' "$T/mda.err")" -eq 225 ] ||
    fail "-v does not show 225 deliveries"
n=$(dovecot_count_messages)
[ "$n" -eq 0 ] || fail "$n messages are still on the server"
verify --maildir "$T/pm" --originals "$DC_MAILDIR" ||
    fail "procmail's Maildir does not hold exactly the corpus"
[ "$(maildir_tmp_count "$T/pm")" -eq 0 ] || fail "procmail left files in tmp/"
[ -z "$(ls -A "$T/work")" ] || fail "something was written to the working dir"

# Quiet run: a successful run prints nothing at all.
python3 "$PF_LIB/mailgen.py" --maildir "$DC_MAILDIR" \
    --manifest "$T/manifest2.json" --count 60 --seed 32 --start 2001 ||
    fail "mailgen.py failed"
dovecot_chown
mkdir -p "$T/pm2/new" "$T/pm2/cur" "$T/pm2/tmp"
cat >"$T/rc2" <<EOF
DEFAULT=$T/pm2/
LOGFILE=$T/procmail2.log
VERBOSE=no
LOGABSTRACT=all
EOF
pf_run mda2 --mda "procmail -f %F -m $T/rc2"
assert_rc mda2 0
assert_empty "$T/mda2.err" "stderr of a successful run"
assert_empty "$T/mda2.out" "stdout of a successful run"
python3 "$PF_LIB/verify.py" --manifest "$T/manifest2.json" --maildir "$T/pm2" ||
    fail "procmail -f %F: the Maildir does not hold exactly the batch"
# procmail logs its From_ line ("From SENDER  DATE", built from -f) for
# each delivery, in order: keep SENDER. The hostile Return-Paths of the
# corpus have spaces, so the sink passes MAILER-DAEMON for them.
grep -a '^From ' "$T/procmail2.log" |
    sed -e 's/^From \(.*\)  [A-Z][a-z][a-z] [A-Z][a-z][a-z] .*/\1/' \
    >"$T/senders"
$DCK senders "$T/manifest2.json" "$T/senders" ||
    fail "procmail did not get the envelope senders through -f %F"
[ -z "$(ls -A "$T/work")" ] || fail "something was written to the working dir"
pass
