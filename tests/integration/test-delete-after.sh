#!/bin/bash
# --keep --delete-after DAYS deletes exactly the messages first seen more
# than DAYS ago, without downloading them again, and keeps the others.
# The records' first_seen times are moved back with tests/lib/state_tool.py
# (which recomputes each line's CRC: if it got the format wrong, popfetch
# would exit 65 and the test fails).
. "$(dirname "$0")/../lib/common.sh"
pf_init
pf_server
pf_mailgen --count 20 --plain --seed 61
ST="python3 $PF_LIB/state_tool.py"

pf_run keep --keep --maildir "$T/mail"
assert_rc keep 0
verify --maildir "$T/mail" --quiet || fail "first run: not exactly the corpus"
state=$(echo "$T"/state/*.state)
[ -f "$state" ] || fail "no state file in '$T/state'"
$ST "$state" dump >"$T/dump0" || fail "cannot read the state file"
[ "$(grep -c '^K ' "$T/dump0")" -eq 20 ] || fail "not 20 K records"

# Age 12 of the 20 records by 10 days (the lowest UIDs: Dovecot numbers
# them in the order of the corpus, so these are its first 12 messages).
old=$(cut -d' ' -f2 "$T/dump0" | sort | head -12)
# shellcheck disable=SC2086
$ST "$state" age 10 $old || fail "cannot age the records"

# Control: nothing is older than 30 days.
pf_run da30 --keep --delete-after 30 --maildir "$T/mail"
assert_rc da30 0
assert_empty "$T/da30.err" "stderr (the rewritten state file was refused?)"
[ "$(dovecot_count_messages)" -eq 20 ] ||
    fail "--delete-after 30 deleted messages seen 10 days ago"

pf_run da5 --keep --delete-after 5 --maildir "$T/mail"
assert_rc da5 0
assert_empty "$T/da5.err" "stderr of the --delete-after 5 run"
n=$(dovecot_count_messages)
[ "$n" -eq 8 ] || fail "--delete-after 5 left $n messages, expected 8"
[ "$(maildir_count "$T/mail")" -eq 20 ] ||
    fail "--delete-after downloaded messages again"
verify --maildir "$T/mail" --quiet || fail "duplicates after --delete-after"
# The 8 left are the 8 messages not aged (the last 8 of the corpus).
python3 - "$T/manifest.json" "$DC_MAILDIR" <<'PY' ||
import json, os, sys
m = json.load(open(sys.argv[1]))["messages"]
left = sorted(n.split(":")[0] for d in ("new", "cur")
              for n in os.listdir(os.path.join(sys.argv[2], d)))
want = sorted(x["file"] for x in m[12:])
sys.exit(0 if left == want else "left %r, expected %r" % (left, want))
PY
    fail "--delete-after deleted the wrong messages"
# Their records are gone; the 8 others stay as kept.
$ST "$state" dump >"$T/dump1" || fail "the state file is damaged"
for u in $old; do
	grep -q " $u " "$T/dump1" && fail "record of deleted '$u' still there"
done
[ "$(grep -c '^K ' "$T/dump1")" -eq 8 ] || fail "not 8 K records left"

# Without --delete-after nothing more goes.
pf_run keep2 --keep --maildir "$T/mail"
assert_rc keep2 0
[ "$(dovecot_count_messages)" -eq 8 ] || fail "plain --keep deleted messages"

# Delete mode removes the 8 kept ones without downloading them again.
pf_run del --maildir "$T/mail"
assert_rc del 0
assert_empty "$T/del.err" "stderr of the delete run"
[ "$(dovecot_count_messages)" -eq 0 ] || fail "the delete run left messages"
verify --maildir "$T/mail" --quiet || fail "the delete run delivered again"
pass
