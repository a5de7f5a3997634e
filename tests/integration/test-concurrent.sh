#!/bin/bash
# One run per account at a time: while a first run is held up (the fault
# proxy stalls the server's bytes mid-fetch), a second run for the same
# account exits 75 within a second, names the first run's pid, and never
# connects. The first run then times out (75) having deleted nothing, and
# a third run delivers the corpus exactly once. Another account (another
# port) is not blocked by the lock.
. "$(dirname "$0")/../lib/common.sh"
pf_init
pf_server
pf_mailgen --count 60 --plain --size 20000:20000 --seed 71
proxy_start --stall-after-bytes 300000 --once

# The first run, in the background, with a short timeout.
"$POPFETCH" --host localhost --port "$PROXY_PORT" --user "$DC_USER" \
    --password-command "cat $DC_PASS_FILE" --ca-file "$DC_CA" \
    --state-dir "$T/state" --timeout 6 --maildir "$T/mail" \
    </dev/null >"$T/a.out" 2>"$T/a.err" &
apid=$!
for _ in $(seq 1 100); do
	grep -q 'stalled after' "$T/proxy.log" && break
	kill -0 "$apid" 2>/dev/null || break
	sleep 0.05
done
grep -q 'stalled after' "$T/proxy.log" || {
	kill "$apid" 2>/dev/null
	show a
	fail "the first run did not reach the stall"
}
kill -0 "$apid" 2>/dev/null || fail "the first run is not running"

PF_PORT=$PROXY_PORT pf_run b --maildir "$T/mail"
brc=$PF_RC
bsecs=$PF_SECS
# While the lock is held, another account (the direct port) may run.
pf_run other --keep --maildir "$T/other"
orc=$PF_RC
ostill=0
kill -0 "$apid" 2>/dev/null && ostill=1
wait "$apid"
arc=$?
PF_RC=$orc
assert_rc other 0
verify --maildir "$T/other" --quiet || fail "the other account's run"
[ "$ostill" = 1 ] ||
    fail "the first run ended before the other account's run (too slow?)"
PF_RC=$brc
assert_rc b 75
awk "BEGIN { exit !($bsecs < 1.0) }" ||
    fail "the second run took ${bsecs}s to give up (want < 1 s)"
[ "$(wc -l <"$T/b.err")" -eq 1 ] || { show b; fail "not one error line"; }
grep -q '^popfetch: ' "$T/b.err" || { show b; fail "no 'popfetch: ' line"; }
grep -qw "$apid" "$T/b.err" ||
    { show b; fail "the message does not name the first run (pid $apid)"; }
if grep -q 'conn 2' "$T/proxy.log"; then
	fail "the second run connected although the account was locked"
fi
[ "$arc" -eq 75 ] || { show a; fail "the stalled first run exited $arc, not 75"; }
[ "$(dovecot_count_messages)" -eq 60 ] || fail "messages deleted without QUIT"
verify --maildir "$T/mail" --quiet --allow-missing-from-server-dir \
    "$DC_MAILDIR" || fail "after the stall: lost or duplicated messages"
note "second run refused in ${bsecs}s: $(cat "$T/b.err")"

# Lock released: the third run finishes the job.
PF_PORT=$PROXY_PORT pf_run c --maildir "$T/mail"
assert_rc c 0
assert_empty "$T/c.err" "stderr of the third run"
[ "$(dovecot_count_messages)" -eq 0 ] || fail "messages left on the server"
verify --maildir "$T/mail" --quiet || fail "not exactly the corpus at the end"
pass
