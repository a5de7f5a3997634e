#!/bin/bash
# mbox locking against other programs (docs/contract.md §4: fcntl, then the
# dotlock FILE.lock holding "pid host"; stale when the pid is gone on this
# host or the file is older than 10 minutes; --lock-wait bounds the wait,
# then exit 75 and nothing is deleted on the server):
#  A. python3 fcntl.lockf holds the mbox: exit 75 after ~2 s, mbox and
#     server untouched;
#  B. a fresh FILE.lock with a live pid and this host name: the same; and
#     one naming another host (its pid cannot be checked): the same;
#  C. the fcntl lock, then the dotlock, released 1 s into a 10 s wait:
#     delivery proceeds;
#  D. a FILE.lock with a dead pid, and one 11 minutes old: removed with a
#     warning, delivery proceeds;
#  E. procmail's lockfile(1): while `lockfile -r0 MBOX.lock` holds it,
#     popfetch waits (exit 75); removed during the wait, it proceeds;
#  F. (fault hooks) popfetch killed while holding the lock: lockfile(1)
#     respects the dotlock it left; the next run removes it as stale,
#     resolves its pending-append record and delivers everything once;
#  G. procmail delivering into the same mbox (`:0:` locking) while
#     popfetch appends: every message of both intact.
. "$(dirname "$0")/../lib/common.sh"
pf_init
command -v lockfile >/dev/null || fail "lockfile is not installed (package procmail)"
pf_server
MBOX=$T/mbox
HOST=$(hostname)
MANIFESTS=()
start=1
# batch SEED COUNT: add ordinary messages to the server, remember the manifest.
batch() {
	python3 "$PF_LIB/mailgen.py" --maildir "$DC_MAILDIR" \
	    --manifest "$T/m$1.json" --count "$2" --seed "$1" --plain \
	    --size 200:3000 --start "$start" || fail "mailgen.py failed"
	dovecot_chown
	MANIFESTS+=(--manifest "$T/m$1.json")
	start=$((start + 1000))
}
# check_all: the mbox holds every batch so far exactly once.
check_all() {
	python3 "$PF_LIB/verify.py" "${MANIFESTS[@]}" --mbox "$MBOX" --quiet ||
	    fail "$1: the mbox does not hold every message exactly once"
	[ "$(dovecot_count_messages)" -eq 0 ] || fail "$1: messages left on the server"
}
# secs_between LO HI: the last run's wall time is within [LO, HI].
secs_between() {
	awk -v s="$PF_SECS" -v lo="$1" -v hi="$2" \
	    'BEGIN { exit !(s >= lo && s <= hi) }' ||
	    fail "run took ${PF_SECS}s, expected between $1 and $2 s"
}
# refused NAME: the last run waited and gave up without changing anything.
refused() {
	assert_rc "$1" 75
	grep -q "cannot lock mbox" "$T/$1.err" || { show "$1";
	    fail "$1: no lock error message"; }
	[ "$(wc -l <"$T/$1.err")" -eq 1 ] || { show "$1"; fail "$1: not one error line"; }
	secs_between 1.8 6
	[ "$(sha256sum <"$MBOX")" = "$sum" ] || fail "$1: the mbox changed"
	[ "$(dovecot_count_messages)" -eq "$want_on_server" ] ||
	    fail "$1: messages were deleted on the server"
	if ls "$T/state"/*.mbox-pending >/dev/null 2>&1; then
		fail "$1: a pending-append record was left"
	fi
}
# holder SECS: hold an fcntl lock on the whole mbox for SECS seconds.
holder() {
	rm -f "$T/held"
	python3 -c 'import fcntl, sys, time
f = open(sys.argv[1], "r+")
fcntl.lockf(f, fcntl.LOCK_EX)
open(sys.argv[2], "w").close()
time.sleep(float(sys.argv[3]))' "$MBOX" "$T/held" "$1" &
	HOLDER=$!
	_pf_proxies+=("$HOLDER") # stopped by the EXIT trap if still running
	for _ in $(seq 1 100); do
		[ -e "$T/held" ] && return 0
		sleep 0.05
	done
	fail "the lock holder did not start"
}

# An mbox with content to start from.
batch 51 10
pf_run first --mbox "$MBOX"
assert_rc first 0
assert_empty "$T/first.err" "stderr of a successful run"
check_all first

# A. fcntl lock held.
batch 52 10
want_on_server=10
sum=$(sha256sum <"$MBOX")
holder 60
pf_run fcntl --mbox "$MBOX" --lock-wait 2
refused fcntl
[ ! -e "$MBOX.lock" ] || fail "a dotlock was left while fcntl was held"
kill "$HOLDER"
wait "$HOLDER" 2>/dev/null

# B. Fresh dotlock of a live process on this host, then of another host.
printf '%s %s\n' "$$" "$HOST" >"$MBOX.lock"
pf_run dotlock --mbox "$MBOX" --lock-wait 2
refused dotlock
[ "$(cat "$MBOX.lock")" = "$$ $HOST" ] || fail "the live dotlock was touched"
printf '999999 elsewhere.invalid\n' >"$MBOX.lock"
pf_run remote --mbox "$MBOX" --lock-wait 2
refused remote
[ -e "$MBOX.lock" ] || fail "another host's dotlock was removed"
rm -f "$MBOX.lock"

# C. Released during the wait: the fcntl lock, then the dotlock.
holder 1
pf_run fcntl-released --mbox "$MBOX" --lock-wait 10
assert_rc fcntl-released 0
assert_empty "$T/fcntl-released.err" "stderr of a successful run"
secs_between 0.5 8
check_all fcntl-released
wait "$HOLDER" 2>/dev/null
batch 53 10
printf '%s %s\n' "$$" "$HOST" >"$MBOX.lock"
(sleep 1; rm -f "$MBOX.lock") &
pf_run dotlock-released --mbox "$MBOX" --lock-wait 10
assert_rc dotlock-released 0
assert_empty "$T/dotlock-released.err" "stderr of a successful run"
secs_between 0.9 8
check_all dotlock-released

# D. Stale dotlocks: a dead pid on this host; a live pid but 11 min old.
batch 54 10
sh -c 'exit 0' &
dead=$!
wait "$dead"
kill -0 "$dead" 2>/dev/null && fail "pid $dead is still alive"
printf '%s %s\n' "$dead" "$HOST" >"$MBOX.lock"
pf_run stale-pid --mbox "$MBOX" --lock-wait 2
assert_rc stale-pid 0
grep -q "removing stale lock" "$T/stale-pid.err" || fail "no stale-lock warning"
[ "$(wc -l <"$T/stale-pid.err")" -eq 1 ] ||
    { show stale-pid; fail "stale-pid: more than the warning"; }
[ ! -e "$MBOX.lock" ] || fail "the dotlock was left"
check_all stale-pid
batch 55 10
printf '%s %s\n' "$$" "$HOST" >"$MBOX.lock"
touch -d '11 minutes ago' "$MBOX.lock"
pf_run stale-old --mbox "$MBOX" --lock-wait 2
assert_rc stale-old 0
grep -q "removing stale lock" "$T/stale-old.err" || fail "no stale-lock warning"
[ ! -e "$MBOX.lock" ] || fail "the old dotlock was left"
check_all stale-old

# E. procmail's lockfile(1).
batch 56 10
want_on_server=10
sum=$(sha256sum <"$MBOX")
lockfile -r0 "$MBOX.lock" || fail "lockfile -r0 could not take a free lock"
pf_run lockfile --mbox "$MBOX" --lock-wait 2
refused lockfile
(sleep 1; rm -f "$MBOX.lock") &
pf_run lockfile-released --mbox "$MBOX" --lock-wait 10
assert_rc lockfile-released 0
assert_empty "$T/lockfile-released.err" "stderr of a successful run"
secs_between 0.9 8
check_all lockfile-released
lockfile -r0 "$MBOX.lock" || fail "popfetch left the lock behind"
rm -f "$MBOX.lock"

# F. popfetch killed while it holds the dotlock (fault hooks only).
if "$POPFETCH" --version | grep -q fault-injection; then
	batch 57 10
	POPFETCH_FAULT_AT=mbox_after_record pf_run killed --mbox "$MBOX"
	[ "$PF_RC" -eq 137 ] ||
	    { show killed; fail "the fault hook did not fire (exit $PF_RC)"; }
	[ -e "$MBOX.lock" ] || fail "no dotlock left by the killed run"
	if lockfile -r0 "$MBOX.lock" 2>/dev/null; then
		fail "lockfile(1) took the lock held by popfetch's dotlock"
	fi
	pf_run after-kill --mbox "$MBOX" --lock-wait 5
	assert_rc after-kill 0
	[ ! -e "$MBOX.lock" ] || fail "the stale dotlock was not removed"
	check_all after-kill
else
	note "SKIPPED part F: this popfetch has no fault-injection hooks"
fi

# G. procmail appends to the same mbox while popfetch does.
command -v procmail >/dev/null || fail "procmail is not installed"
batch 58 200
printf 'DEFAULT=%s\nLOCKFILE=%s.lock\nLOGFILE=%s/pm.log\n' "$MBOX" "$MBOX" \
    "$T" >"$T/rc"
# procmail's own delivery takes the dotlock (:0: style through LOCKFILE)
# and, as built for Debian, fcntl/lockf on the file too.
(
	for i in $(seq 1 60); do
		# With -m, procmail makes no From_ line: give it one.
		printf '%s\n%s\nSubject: procmail %d\n%s %d\n\nbody %d\n' \
		    'From pm@example.org Mon Jan  1 00:00:00 2024' \
		    'From: pm@example.org' "$i" 'X-Procmail-Test:' "$i" "$i" |
		    procmail -m "$T/rc" || exit 1
	done
) &
pm=$!
pf_run concurrent --mbox "$MBOX"
wait "$pm" || fail "procmail failed"
assert_rc concurrent 0
python3 - "$MBOX" "$T/popfetch-only" <<'EOF' || fail "G: procmail messages are not intact"
import re, sys
data = open(sys.argv[1], "rb").read()
starts = [0] + [m.start() + 1 for m in re.finditer(rb"\nFrom ", data)]
keep, seen, runs, last = [], set(), 0, None
for k, s in enumerate(starts):
    chunk = data[s:starts[k + 1] if k + 1 < len(starts) else len(data)]
    m = re.search(rb"(?m)^X-Procmail-Test: (\d+)\n\nbody (\d+)\n", chunk)
    runs += last != (m is None)
    last = m is None
    if m is None:
        keep.append(chunk)
        continue
    if m.group(1) != m.group(2):
        sys.exit("procmail message %s is mangled" % m.group(1))
    seen.add(int(m.group(1)))
if seen != set(range(1, 61)):
    sys.exit("procmail messages missing: %s" % sorted(set(range(1, 61)) - seen))
open(sys.argv[2], "wb").write(b"".join(keep))
print("test-mbox-locking: G: %d alternating runs of popfetch and procmail "
      "messages" % runs)
EOF
python3 "$PF_LIB/verify.py" "${MANIFESTS[@]}" --mbox "$T/popfetch-only" --quiet ||
    fail "G: popfetch's messages are not intact next to procmail's"
pass
