#!/bin/bash
# MDA faults (docs/faults.md #53 and #54). An MDA script counts its calls
# and delivers each message into a Maildir-shaped directory, except that
# call K=4 of 8 misbehaves:
#   exit1 -> 74, exit75 -> 75, kill9 (kill -9 $$) -> 74, noread (exit 0
#   without reading stdin) -> 74, hang (sleep 60, --mda-timeout 2) -> 74
#   after ~2 s, missing (a command that does not exist) -> 74;
# and for each: messages 1-3 delivered and deleted (docs/contract.md §4: deliveries
# before the failure are committed), message 4 and every one after it
# still on the server, the -v summary line says so, exactly one error
# line naming message 4 besides
# the -v lines, and the -v deletions matching the server (deliver_check.py
# server). An MDA that writes megabytes to stderr before reading stdin
# must succeed for every message (no deadlock), and an --mda that does
# not exist at all fails the first message with nothing deleted.
# Hostile senders: mailgen's Return-Paths ($(touch pwned), quotes,
# backticks: with spaces, so the sink gives MAILER-DAEMON) and more
# without spaces (deliver_check.py hostile: passed on as one quoted word)
# reach `printf "%s\n" %F` and $SENDER literally, and no command in them
# runs: no file named pwned* appears.
. "$(dirname "$0")/../lib/common.sh"
pf_init
pf_server
DCK="python3 $PF_LIB/deliver_check.py"
mkdir -p "$T/work"
cd "$T/work" || fail "cd"

cat >"$T/mda.sh" <<'EOF'
#!/bin/sh
# mda.sh MODE K OUT: store stdin as OUT/new/<call number>; call K does MODE
# instead (stderr: every call from K on writes 4 MB to stderr first).
n=$(($(cat "$3/count" 2>/dev/null || echo 0) + 1))
echo "$n" >"$3/count"
if [ "$n" -eq "$2" ] || { [ "$1" = stderr ] && [ "$n" -ge "$2" ]; }; then
	case $1 in
	exit1) cat >/dev/null; exit 1 ;;
	exit75) cat >/dev/null; echo "mailbox busy" >&2; exit 75 ;;
	kill9) kill -9 $$ ;;
	noread) exit 0 ;;
	hang) exec sleep 60.25 ;;
	missing) no-such-command-popfetch-test; exit $? ;;
	stderr) head -c 4000000 /dev/zero | tr '\0' x >&2 ;;
	esac
fi
cat >"$3/tmp/$n" && mv "$3/tmp/$n" "$3/new/$n"
EOF

seed=60
# fault MODE WANT_RC [extra popfetch args]: one case on a fresh batch.
fault() {
	local mode=$1 want=$2 out=$T/out-$1
	shift 2
	seed=$((seed + 1))
	find "$DC_MAILDIR/new" "$DC_MAILDIR/cur" -type f -delete
	pf_mailgen --count 8 --plain --size 200:4000 --seed "$seed" \
	    --start $((seed * 100))
	mkdir -p "$out/new" "$out/cur" "$out/tmp"
	rm -rf "$T/state"
	pf_run "$mode" -v "$@" --mda "exec /bin/sh $T/mda.sh $mode 4 $out"
	assert_rc "$mode" "$want"
	grep -v -e '^popfetch: message [0-9]* (uid [^)]*, [0-9]* octets) delivered to' \
	    -e '^popfetch: message [0-9]* (uid [^)]*) marked for deletion' \
	    -e '^popfetch: [0-9]* new, [0-9]* delivered, ' \
	    "$T/$mode.err" >"$T/$mode.other"
	[ "$(wc -l <"$T/$mode.other")" -eq 1 ] || { show "$mode";
	    fail "$mode: not exactly one error line"; }
	# -v ends with the summary line, after the error
	tail -n 1 "$T/$mode.err" |
	    grep -q '^popfetch: 8 new, 3 delivered, 3 deleted, 5 left, ' ||
	    { show "$mode"; fail "$mode: no summary line '8 new, 3" \
	    "delivered, 3 deleted, 5 left' at the end"; }
	grep -q '^popfetch: .*message 4' "$T/$mode.other" ||
	    fail "$mode: the error does not name message 4: $(cat "$T/$mode.other")"
	$DCK server "$T/manifest.json" "$DC_MAILDIR" "$T/$mode.err" \
	    --deleted 1-3 >/dev/null ||
	    fail "$mode: not exactly messages 1-3 deleted, 4-8 on the server"
	[ "$(dovecot_count_messages)" -eq 5 ] || fail "$mode: the server does not hold 5"
	verify --maildir "$out" --allow-missing-from-server-dir "$DC_MAILDIR" \
	    --quiet || fail "$mode: a message was lost or duplicated"
	[ "$(maildir_count "$out")" -eq 3 ] || fail "$mode: not 3 messages delivered"
	note "$mode: exit $PF_RC: $(cut -c1-150 "$T/$mode.other")"
}

fault exit1 74
grep -q 'exited 1' "$T/exit1.other" || fail "exit1: the exit status is not shown"
fault exit75 75
grep -q 'exited 75.*mailbox busy' "$T/exit75.other" ||
    fail "exit75: the status or the MDA's stderr is not shown"
fault kill9 74
grep -q 'signal 9' "$T/kill9.other" || fail "kill9: the signal is not shown"
fault noread 74
fault hang 74 --mda-timeout 2
awk -v s="$PF_SECS" 'BEGIN { exit !(s >= 1.8 && s <= 8) }' ||
    fail "hang: the run took ${PF_SECS}s with --mda-timeout 2"
grep -q 'timed out' "$T/hang.other" || fail "hang: no time-out message"
sleep 0.2
if pgrep -xf 'sleep 60.25' >/dev/null; then
	fail "hang: the MDA's sleep survived the time-out"
fi
fault missing 74

# Megabytes on stderr before reading stdin, from every call: success.
find "$DC_MAILDIR/new" "$DC_MAILDIR/cur" -type f -delete
pf_mailgen --count 8 --plain --seed 70 --start 7000
out=$T/out-stderr
mkdir -p "$out/new" "$out/cur" "$out/tmp"
rm -rf "$T/state"
pf_run stderr --mda "exec /bin/sh $T/mda.sh stderr 1 $out"
assert_rc stderr 0
assert_empty "$T/stderr.err" "stderr of a successful run"
verify --maildir "$out" --quiet || fail "stderr: the messages are not all delivered"
[ "$(dovecot_count_messages)" -eq 0 ] || fail "stderr: messages left on the server"

# An MDA command that does not exist: the first message fails.
pf_mailgen --count 3 --plain --seed 71 --start 7100
pf_run nomda -v --mda "no-such-mda-popfetch-test"
assert_rc nomda 74
$DCK server "$T/manifest.json" "$DC_MAILDIR" "$T/nomda.err" --deleted 0-0 \
    >/dev/null || fail "nomda: something was deleted"
grep -q 'message 1' "$T/nomda.err" || fail "nomda: the error does not name message 1"

# Hostile senders: nothing executes, the values arrive literally.
find "$DC_MAILDIR/new" "$DC_MAILDIR/cur" -type f -delete
pf_mailgen --count 40 --seed 72 --start 7200
$DCK hostile "$DC_MAILDIR" "$T/hostile.json" >/dev/null || fail "hostile setup"
dovecot_chown
rm -rf "$T/state"
# shellcheck disable=SC2016
pf_run hostile --mda 'printf "%s\n" %F >>../senders;
    printf "%s\n" "$SENDER" >>../senders-env; cat >/dev/null'
assert_rc hostile 0
assert_empty "$T/hostile.err" "stderr of a successful run"
[ "$(dovecot_count_messages)" -eq 0 ] || fail "hostile: messages left on the server"
found=$(find "$T" -name 'pwned*' 2>/dev/null | head -5)
[ -z "$found" ] || fail "a hostile sender ran a command: $found"
[ -z "$(ls -A "$T/work")" ] ||
    fail "something was created in the working dir: $(ls -A "$T/work")"
$DCK senders "$T/manifest.json" "$T/senders" --extra "$T/hostile.json" ||
    fail "%F did not reach the MDA literally"
$DCK senders "$T/manifest.json" "$T/senders-env" --extra "$T/hostile.json" ||
    fail "\$SENDER did not reach the MDA literally"
pass
