#!/bin/bash
# Group commit on a budget (docs/contract.md §6): a fast link gets a few
# large batches, not one every 50 messages, and a batch of 16 Maildir
# files or more becomes durable with one syncfs where that is as strong
# as an fsync per file (fileio_fs_sync_whole(): ext4, XFS, Btrfs, tmpfs
# on Linux >= 5.17), one fsync each elsewhere. Counted with strace: the
# state journal's fdatasyncs are the commits (and the flush of the
# records QUIT lets go), and a commit is due only once its batch is
# 1 s old, holds 256 messages or 64 MiB, so a run of S seconds makes at
# most S + 1 + 3 of them for 600 messages; with a fixed count of 50 they
# made 12 in well under a second.
# Then a cron poll that finds nothing new rewrites nothing in the state
# directory: the state file is compact already. Its one sync is the
# load's (what a killed run may have left unsynced is made durable
# before anything is acted on). Last, a batch of 5 (under 16 files)
# fsyncs its own files and never calls syncfs.
. "$(dirname "$0")/../lib/common.sh"
pf_init
command -v strace >/dev/null ||
    fail "strace is not installed (scripts/test installs it)"
pf_server
pf_mailgen --count 600 --seed 41 --size 500:3000

real=$POPFETCH
# LeakSanitizer cannot work under ptrace: no leak check in these runs
# (the other tests check leaks).
cat >"$T/pf-strace" <<EOS
#!/bin/sh
export ASAN_OPTIONS="\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}detect_leaks=0"
exec strace -f -qq -y --seccomp-bpf -e trace=fsync,fdatasync,syncfs,rename \
    -o "$T/sync.trace" "$real" "\$@"
EOS
chmod +x "$T/pf-strace"
POPFETCH=$T/pf-strace pf_run group --maildir "$T/mail"
assert_rc group 0
verify --maildir "$T/mail" --originals "$DC_MAILDIR" ||
    fail "the Maildir does not hold exactly the corpus"
[ "$(dovecot_count_messages)" -eq 0 ] || fail "messages left on the server"

commits=$(grep -c "fdatasync([0-9]*<$T/state/" "$T/sync.trace")
secs=${PF_SECS%.*}
note "600 messages in ${PF_SECS}s, $commits commits"
[ "$commits" -ge 1 ] || { cat "$T/sync.trace" >&2; fail "no commit seen"; }
[ "$commits" -le $((secs + 4)) ] || {
	cat "$T/sync.trace" >&2
	fail "$commits commits in ${PF_SECS}s: batches are not on a time budget"
}

# strace -f pads the pid to five columns: one space or more follows it
file_fsyncs=$(grep -c "^[0-9]* *fsync([0-9]*<$T/mail/tmp/" "$T/sync.trace")
syncfs=$(grep -c "syncfs([0-9]*<$T/mail/tmp>" "$T/sync.trace")
fstype=$(stat -f -c %t "$T/mail")
major=$(uname -r | cut -d. -f1)
minor=$(uname -r | cut -d. -f2)
whole=no
if [ "$major" -gt 5 ] || { [ "$major" -eq 5 ] && [ "$minor" -ge 17 ]; }; then
	case $fstype in
	58465342 | 9123683e | 1021994) whole=yes ;;
	ef53)
		# ext2, ext3 and ext4 share the number; only ext4 qualifies
		[ "$(findmnt -n -o FSTYPE -T "$T/mail")" = ext4 ] && whole=yes ;;
	esac
fi
note "file system type 0x$fstype, whole-file-system sync: $whole;" \
    "$file_fsyncs file fsyncs, $syncfs syncfs"
if [ "$whole" = yes ]; then
	# a batch of 16 files or more is one syncfs; a smaller one (the
	# time budget may cut one short) fsyncs its files
	[ "$syncfs" -ge 1 ] && [ "$syncfs" -le "$commits" ] ||
	    fail "$syncfs syncfs calls for $commits commits"
	[ "$file_fsyncs" -le $((15 * (commits - syncfs))) ] ||
	    fail "$file_fsyncs files fsynced one by one for" \
	    "$((commits - syncfs)) small batches"
else
	[ "$file_fsyncs" -eq 600 ] ||
	    fail "$file_fsyncs file fsyncs for 600 messages (want one each)"
	[ "$syncfs" -eq 0 ] || fail "syncfs used where it is not as strong"
fi

# The empty poll.
rm -f "$T/sync.trace"
POPFETCH=$T/pf-strace pf_run empty --maildir "$T/mail"
assert_rc empty 0
# every sync or rename in the state directory but the load's fdatasync
other=$(grep "$T/state" "$T/sync.trace" | grep -vc " fdatasync([0-9]*<[^>]*\.state>")
note "empty poll: $other syncs or renames in the state directory" \
    "besides the load's"
[ "$other" -eq 0 ] || {
	cat "$T/sync.trace" >&2
	fail "a poll that found nothing rewrote or synced the state"
}

# A small batch (under 16 files: a slow link commits about once a second)
# fsyncs just its own files, never the whole file system.
pf_mailgen --count 5 --plain --seed 42 --size 500:3000 --start 5001
rm -f "$T/sync.trace"
POPFETCH=$T/pf-strace pf_run small --maildir "$T/mail"
assert_rc small 0
small_fsyncs=$(grep -c "^[0-9]* *fsync([0-9]*<$T/mail/tmp/" "$T/sync.trace")
small_syncfs=$(grep -c "syncfs(" "$T/sync.trace")
note "5 messages: $small_fsyncs file fsyncs, $small_syncfs syncfs"
[ "$small_fsyncs" -eq 5 ] && [ "$small_syncfs" -eq 0 ] || {
	cat "$T/sync.trace" >&2
	fail "a batch of 5 made $small_fsyncs file fsyncs and $small_syncfs" \
	    "syncfs (want 5 and 0)"
}
pass
