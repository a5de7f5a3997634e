#!/bin/bash
# A damaged state file is never taken as "nothing seen": garbage, a bad
# CRC in the middle, an unknown version and an empty file each stop the
# run with 65 and one error line naming the file, nothing is fetched and
# nothing on the server is deleted. A torn last line (a kill during an
# append) is not fatal: dropped with a warning, the run goes on and the
# next run is silent. A state directory that cannot be written stops the
# run with 73 before it connects.
. "$(dirname "$0")/../lib/common.sh"
pf_init
pf_server
pf_mailgen --count 20 --plain --seed 81
ST="python3 $PF_LIB/state_tool.py"

pf_run keep --keep --maildir "$T/mail"
assert_rc keep 0
verify --maildir "$T/mail" --quiet || fail "first run: not exactly the corpus"
state=$(echo "$T"/state/*.state)
[ -f "$state" ] || fail "no state file in '$T/state'"
cp "$state" "$T/good.state"

# 1. Corrupt files: 65, nothing fetched, nothing deleted (delete mode).
for how in garbage badcrc-mid version empty; do
	cp "$T/good.state" "$state"
	$ST "$state" damage "$how" || fail "cannot damage the state ($how)"
	cp "$state" "$T/damaged.state"
	pf_run "$how" --maildir "$T/mail"
	assert_rc "$how" 65
	[ "$(wc -l <"$T/$how.err")" -eq 1 ] ||
	    { show "$how"; fail "$how: not one error line"; }
	grep -q "^popfetch: .*$(basename "$state")" "$T/$how.err" ||
	    { show "$how"; fail "$how: the error does not name the state file"; }
	[ "$(dovecot_count_messages)" -eq 20 ] ||
	    fail "$how: messages were deleted from the server"
	[ "$(maildir_count "$T/mail")" -eq 20 ] ||
	    fail "$how: messages were fetched again"
	cmp -s "$state" "$T/damaged.state" ||
	    fail "$how: the damaged state file was changed (evidence lost)"
	note "$how: $(cat "$T/$how.err")"
done

# 2. A torn last line: a warning, the run proceeds, nothing fetched twice.
cp "$T/good.state" "$state"
$ST "$state" damage torn || fail "cannot tear the state"
pf_run torn --keep --maildir "$T/mail"
assert_rc torn 0
grep -qi 'torn' "$T/torn.err" || { show torn; fail "no warning about the torn record"; }
if grep -v '^popfetch: warning: ' "$T/torn.err"; then
	fail "the torn record caused more than a warning"
fi
[ "$(maildir_count "$T/mail")" -eq 20 ] || fail "torn: messages fetched again"
[ "$(dovecot_count_messages)" -eq 20 ] || fail "torn: keep mode deleted"
$ST "$state" dump >/dev/null || fail "the state file is still damaged"
pf_run torn2 --keep --maildir "$T/mail"
assert_rc torn2 0
assert_empty "$T/torn2.err" "stderr of the run after the torn one"

# 3. The state dir cannot be created (its parent is a regular file): 73
# before connecting (the proxy sees no connection).
proxy_start
: >"$T/afile"
PF_PORT=$PROXY_PORT pf_run_raw nodir --host localhost --port "$PROXY_PORT" \
    --user "$DC_USER" --password-command "cat $DC_PASS_FILE" \
    --ca-file "$DC_CA" --state-dir "$T/afile/state" --timeout 30 \
    --maildir "$T/mail"
assert_rc nodir 73
[ "$(wc -l <"$T/nodir.err")" -eq 1 ] || { show nodir; fail "not one error line"; }
grep -q "^popfetch: .*afile" "$T/nodir.err" ||
    { show nodir; fail "the error does not name the state dir"; }

# 4. The state dir exists but cannot be written: chmod when not root;
# as root permissions do not bind, so the immutable flag (chattr +i).
mkdir -p "$T/ro"
ro=no
if [ "$(id -u)" -ne 0 ]; then
	chmod 0500 "$T/ro" && ro="chmod"
elif command -v chattr >/dev/null && chattr +i "$T/ro" 2>/dev/null; then
	ro=chattr
	# shellcheck disable=SC2154 # rc is set inside the trap
	trap 'rc=$?; chattr -i "$T/ro" 2>/dev/null; (exit $rc); _pf_cleanup' EXIT
fi
if [ "$ro" = no ]; then
	note "SKIPPED: cannot make a directory unwritable here (root, no chattr)"
else
	PF_PORT=$PROXY_PORT pf_run_raw rodir --host localhost \
	    --port "$PROXY_PORT" --user "$DC_USER" \
	    --password-command "cat $DC_PASS_FILE" --ca-file "$DC_CA" \
	    --state-dir "$T/ro" --timeout 30 --maildir "$T/mail"
	if [ "$ro" = chattr ]; then
		chattr -i "$T/ro"
	else
		chmod 0700 "$T/ro"
	fi
	assert_rc rodir 73
	[ "$(wc -l <"$T/rodir.err")" -eq 1 ] ||
	    { show rodir; fail "not one error line"; }
	note "unwritable ($ro): $(cat "$T/rodir.err")"
fi
proxy_stop
if grep -q 'conn ' "$T/proxy.log"; then
	cat "$T/proxy.log" >&2
	fail "a run connected although its state dir was unusable"
fi
[ "$(dovecot_count_messages)" -eq 20 ] || fail "messages were deleted"
[ "$(maildir_count "$T/mail")" -eq 20 ] || fail "messages were fetched again"
pass
