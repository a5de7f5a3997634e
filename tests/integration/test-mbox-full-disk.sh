#!/bin/bash
# A full disk during an mbox append (docs/faults.md #48). The mbox lives on
# a 2 MiB tmpfs that a filler file makes nearly full; the spool and the
# state stay on the normal disk, so the append itself hits ENOSPC.
#  1. One batch that does not fit: exit 74, one error line, the mbox
#     byte-identical to before (sha256), every message still on the
#     server, no pending-append record, no lock or temp file left; with
#     space freed, the next run delivers everything once.
#  2. Several batches (a batch ends at 256 messages or a second): the
#     first fit, a later one does not. Those that fit are delivered once
#     and deleted (the -v deletions are exactly messages 1-K), the rest
#     stays on the server, the mbox holds no partial message; after
#     freeing space the next run delivers the rest with no duplicates.
# Needs root (mount); skipped with a message otherwise.
. "$(dirname "$0")/../lib/common.sh"
pf_init
if [ "$(id -u)" -ne 0 ]; then
	note "SKIPPED: mounting a tmpfs needs root"
	exit 0
fi
MNT=$T/mnt
mkdir -p "$MNT"
mount -t tmpfs -o size=2m,mode=0755 popfetch-test "$MNT" ||
    fail "cannot mount a tmpfs on '$MNT'"
# Unmount before common.sh's trap removes $T, keeping the exit status.
unmount_then_cleanup() {
	local rc=$?
	umount "$MNT" 2>/dev/null
	(exit "$rc")
	_pf_cleanup
}
trap unmount_then_cleanup EXIT
pf_server
DCK="python3 $PF_LIB/deliver_check.py"

# avail: bytes free on the tmpfs.
avail() {
	python3 -c 'import os, sys
s = os.statvfs(sys.argv[1])
print(s.f_bavail * s.f_frsize)' "$MNT"
}
# fill_to FREE: grow the filler until about FREE bytes are left.
fill_to() {
	local now
	now=$(avail)
	[ "$now" -gt "$1" ] || fail "only $now bytes free, wanted $1"
	head -c $((now - $1)) /dev/zero >>"$MNT/filler" || fail "cannot fill the tmpfs"
	note "tmpfs: $(avail) bytes free"
}
# stream_bytes MANIFEST FROM TO: a generous size of messages FROM..TO
# (1-based) in the mbox: length + Received field + From line + blank line.
stream_bytes() {
	python3 -c 'import json, sys
m = json.load(open(sys.argv[1]))["messages"][int(sys.argv[2]) - 1:int(sys.argv[3])]
print(sum(x["length"] + 400 for x in m))' "$@"
}
# clean_target: nothing but the mbox and the filler on the tmpfs, and no
# pending-append record in the state dir.
clean_target() {
	local f
	for f in "$MNT"/* "$MNT"/.[!.]*; do
		case ${f##*/} in
		mbox | filler | '*' | '.[!.]*') ;;
		*) fail "$1: left on the tmpfs: ${f##*/}" ;;
		esac
	done
	if ls "$T/state"/*.mbox-pending >/dev/null 2>&1; then
		fail "$1: a pending-append record was left"
	fi
}

# 1. One batch that does not fit.
pf_mailgen --count 5 --plain --seed 81
cp "$T/manifest.json" "$T/m0.json"
pf_run before --mbox "$MNT/mbox"
assert_rc before 0
python3 "$PF_LIB/mailgen.py" --maildir "$DC_MAILDIR" --manifest "$T/m1.json" \
    --count 20 --plain --size 20000:30000 --seed 82 --start 1001 ||
    fail "mailgen.py failed"
dovecot_chown
fill_to 65536
sum=$(sha256sum <"$MNT/mbox")
pf_run full --mbox "$MNT/mbox"
assert_rc full 74
[ "$(wc -l <"$T/full.err")" -eq 1 ] || { show full; fail "full: not one line"; }
grep -q 'No space left on device' "$T/full.err" ||
    { show full; fail "full: no ENOSPC error"; }
note "full: $(cat "$T/full.err")"
[ "$(sha256sum <"$MNT/mbox")" = "$sum" ] || fail "full: the mbox changed"
[ "$(dovecot_count_messages)" -eq 20 ] || fail "full: messages were deleted"
clean_target full
rm -f "$MNT/filler"
pf_run freed --mbox "$MNT/mbox"
assert_rc freed 0
assert_empty "$T/freed.err" "stderr of a successful run"
python3 "$PF_LIB/verify.py" --manifest "$T/m0.json" --manifest "$T/m1.json" \
    --mbox "$MNT/mbox" --quiet || fail "freed: not every message exactly once"
[ "$(dovecot_count_messages)" -eq 0 ] || fail "freed: messages left on the server"
clean_target freed

# 2. The first batch (or batches) fit, a later one does not. A batch
# ends at 256 messages or once it is a second old (docs/contract.md §6),
# so there is room for messages 1-256 and 12 KiB more (page rounding, the
# dotlock); the last 44 need far more than that. Where the cut falls
# depends on the clock: the run delivers and deletes the first K
# messages, 0 < K <= 256, and leaves the other 300 - K.
rm -f "$MNT/mbox"
rm -rf "$T/state"
pf_mailgen --count 300 --plain --size 3000:5000 --seed 83 --start 2001
first=$(stream_bytes "$T/manifest.json" 1 256)
second=$(stream_bytes "$T/manifest.json" 257 300)
[ "$second" -gt 20000 ] || fail "the last batch is too small to overflow"
fill_to $((first + 12288))
pf_run batches -v --mbox "$MNT/mbox"
assert_rc batches 74
grep -v -e '^popfetch: message [0-9]* (uid [^)]*, [0-9]* octets) delivered to' \
    -e '^popfetch: message [0-9]* (uid [^)]*) marked for deletion' \
    -e '^popfetch: [0-9]* new, [0-9]* delivered, ' \
    "$T/batches.err" >"$T/batches.other"
[ "$(wc -l <"$T/batches.other")" -eq 1 ] ||
    { show batches; fail "batches: not one error line"; }
summary=$(grep -o '^popfetch: 300 new, [0-9]* delivered, [0-9]* deleted, [0-9]* left, ' \
    "$T/batches.err")
read -r k d l <<<"$(echo "$summary" |
    sed 's/^popfetch: 300 new, \([0-9]*\) delivered, \([0-9]*\) deleted, \([0-9]*\) left, $/\1 \2 \3/')"
note "batches: $k delivered, $d deleted, $l left"
[ -n "$summary" ] && [ "$k" -gt 0 ] && [ "$k" -le 256 ] && [ "$d" -eq "$k" ] &&
    [ $((k + l)) -eq 300 ] ||
    { show batches; fail "batches: want '300 new, K delivered, K deleted," \
    "300-K left' with 0 < K <= 256"; }
$DCK server "$T/manifest.json" "$DC_MAILDIR" "$T/batches.err" \
    --deleted "1-$k" >/dev/null ||
    fail "batches: not exactly the first $k messages deleted"
verify --mbox "$MNT/mbox" --allow-missing-from-server-dir "$DC_MAILDIR" \
    --quiet || fail "batches: the mbox holds a partial or duplicate message"
[ "$(grep -c '^From ' "$MNT/mbox")" -eq "$k" ] ||
    fail "batches: not $k messages in the mbox"
clean_target batches
rm -f "$MNT/filler"
pf_run rest --mbox "$MNT/mbox"
assert_rc rest 0
assert_empty "$T/rest.err" "stderr of a successful run"
verify --mbox "$MNT/mbox" --quiet || fail "rest: not every message exactly once"
[ "$(dovecot_count_messages)" -eq 0 ] || fail "rest: messages left on the server"
clean_target rest
pass
