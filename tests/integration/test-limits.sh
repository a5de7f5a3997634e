#!/bin/bash
# --limit N fetches exactly N and leaves the rest for the next run;
# --max-size B leaves larger messages on the server (a later run without
# it fetches them); --kill-size B deletes larger messages without
# delivering them. Sizes are the server's LIST sizes; the threshold lies in
# a gap between them (tests/lib/state_split.py).
# Not here: a server without UIDL (Dovecot always offers it); the scripted
# fake server's tests cover that.
. "$(dirname "$0")/../lib/common.sh"
pf_init
pf_server
note "SKIPPED here: a server without UIDL (Dovecot cannot disable it)"

# split NAME: split manifest.json by size into NAME-small/-large.json;
# sets THR (the threshold) and NSMALL / NLARGE.
split() {
	THR=$(python3 "$PF_LIB/state_split.py" --manifest "$T/manifest.json" \
	    --port "$DC_POP3S_PORT" --user "$DC_USER" \
	    --password-file "$DC_PASS_FILE" --ca-file "$DC_CA" \
	    --small "$T/$1-small.json" --large "$T/$1-large.json") ||
	    fail "cannot split the corpus by size"
	NSMALL=$(python3 -c 'import json, sys
print(len(json.load(open(sys.argv[1]))["messages"]))' "$T/$1-small.json")
	NLARGE=$((PF_NMSG - NSMALL))
	note "$1: threshold $THR bytes: $NSMALL at or below, $NLARGE above"
	if [ "$NSMALL" -eq 0 ] || [ "$NLARGE" -eq 0 ]; then
		fail "a one-sided split"
	fi
}

# vm MANIFEST DIR [args]: verify DIR against one manifest.
vm() {
	local m=$1 d=$2
	shift 2
	python3 "$PF_LIB/verify.py" --quiet --manifest "$m" --maildir "$d" "$@"
}

# 1. --limit 7 of 30, then the rest.
pf_mailgen --count 30 --plain --seed 111
pf_run limit --limit 7 --maildir "$T/m1"
assert_rc limit 0
assert_empty "$T/limit.err" "stderr of the --limit run"
n=$(maildir_count "$T/m1")
[ "$n" -eq 7 ] || fail "--limit 7 fetched $n"
[ "$(dovecot_count_messages)" -eq 23 ] || fail "--limit 7 did not leave 23"
verify --quiet --maildir "$T/m1" --allow-missing-from-server-dir \
    "$DC_MAILDIR" || fail "--limit: lost or duplicated messages"
pf_run limit2 --limit 100 --maildir "$T/m1"
assert_rc limit2 0
[ "$(dovecot_count_messages)" -eq 0 ] || fail "the second run left messages"
verify --quiet --maildir "$T/m1" || fail "--limit then the rest: not exact"

# 2. --max-size: larger ones stay, and come with a run without it.
pf_mailgen --count 30 --plain --size 1000:40000 --seed 112
split max
pf_run max --max-size "$THR" --maildir "$T/m2"
assert_rc max 0
n=$(dovecot_count_messages)
[ "$n" -eq "$NLARGE" ] || fail "--max-size left $n messages, expected $NLARGE"
vm "$T/max-small.json" "$T/m2" ||
    fail "--max-size: not exactly the messages at or below $THR"
verify --quiet --maildir "$T/m2" --allow-missing-from-server-dir \
    "$DC_MAILDIR" || fail "--max-size: lost messages"
pf_run max2 --max-size "$THR" --maildir "$T/m2"
assert_rc max2 0
[ "$(dovecot_count_messages)" -eq "$NLARGE" ] ||
    fail "a second --max-size run changed the server"
[ "$(maildir_count "$T/m2")" -eq "$NSMALL" ] ||
    fail "a second --max-size run fetched something"
pf_run max3 --maildir "$T/m2"
assert_rc max3 0
assert_empty "$T/max3.err" "stderr of the run without --max-size"
[ "$(dovecot_count_messages)" -eq 0 ] || fail "the run without --max-size left messages"
verify --quiet --maildir "$T/m2" || fail "after --max-size and a full run: not exact"

# 3. --kill-size: larger ones deleted, never delivered.
pf_mailgen --count 30 --plain --size 1000:40000 --seed 113
split kill
pf_run kill --kill-size "$THR" --maildir "$T/m3"
assert_rc kill 0
n=$(dovecot_count_messages)
[ "$n" -eq 0 ] || fail "--kill-size left $n messages on the server"
vm "$T/kill-small.json" "$T/m3" ||
    fail "--kill-size: not exactly the messages at or below $THR (a large one delivered?)"
pass
