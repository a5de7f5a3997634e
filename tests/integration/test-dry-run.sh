#!/bin/bash
# -n/--dry-run logs in and lists, one line per message on stdout, what
# would be fetched, deleted and skipped (new, seen before, delivered
# before, over --max-size, over --kill-size), and changes nothing: the
# server keeps every message (no RETR, no DELE), no Maildir or mbox is
# created, no MDA runs, and no state file is written or changed.
. "$(dirname "$0")/../lib/common.sh"
pf_init
pf_server
# Three small ones now; later a small, a middling and a large one.
pf_mailgen --count 3 --plain --size 1000:2000 --seed 131

# server_ids: the server's messages, by name without the flags part
# (Dovecot moves new/ to cur/ when a session opens the mailbox).
server_ids() {
	find "$DC_MAILDIR/new" "$DC_MAILDIR/cur" -maxdepth 1 -type f \
	    -printf '%f\n' | sed 's/:.*//' | sort
}

# state_sum: a fingerprint of the state dir (names, sizes, contents).
state_sum() {
	if [ -d "$T/state" ]; then
		(cd "$T/state" && find . -type f -printf '%p %s\n' | sort &&
		    find . -type f -exec cat {} + | sha256sum)
	else
		echo "no state dir"
	fi
}

# retr_sessions: Dovecot sessions that retrieved or deleted anything.
retr_sessions() {
	grep -cE 'retr=[1-9]|del=[1-9]' "$DC_LOG" || true
}

# lines NAME N: stdout holds N lines, "message 1" .. "message N" once each.
lines() {
	local i c
	c=$(wc -l <"$T/$1.out")
	[ "$c" -eq "$2" ] || { show "$1"; fail "$1: $c lines, expected $2"; }
	for i in $(seq 1 "$2"); do
		c=$(grep -cE "message $i\\b" "$T/$1.out")
		[ "$c" -eq 1 ] ||
		    { show "$1"; fail "$1: message $i is on $c lines, not 1"; }
	done
}

# says NAME N REGEX: the line of message N matches REGEX (extended).
says() {
	grep -E "message $2\\b" "$T/$1.out" | grep -qiE -- "$3" ||
	    { show "$1"; fail "$1: message $2 is not listed as /$3/"; }
}

# fetch/delete/skip as popfetch words them; the checks only need the verb
# at the start of the action and "fetch" absent where nothing is fetched.
FETCH='(fetch|retriev|download)'

# unchanged NAME: nothing moved anywhere.
unchanged() {
	[ "$(server_ids)" = "$ids" ] || fail "$1: the server's messages changed"
	[ "$(retr_sessions)" -eq "$retr" ] ||
	    fail "$1: Dovecot logged a RETR or DELE"
	[ "$(state_sum)" = "$sum" ] || fail "$1: the state dir changed"
}

ids=$(server_ids)
retr=0
sum=$(state_sum)

# 1. Nothing seen yet: three would be fetched (and deleted).
pf_run fresh -n --maildir "$T/mail"
assert_rc fresh 0
assert_empty "$T/fresh.err" "stderr of a dry run"
lines fresh 3
for i in 1 2 3; do says fresh "$i" "$FETCH"; done
unchanged fresh
[ ! -e "$T/mail" ] || fail "the dry run created the Maildir"
[ ! -e "$T/state" ] || [ -z "$(ls -A "$T/state")" ] ||
    fail "the dry run wrote state: $(ls -A "$T/state")"
# The long option, an mbox and an MDA: no file, no MDA run.
pf_run fresh-mbox --dry-run --mbox "$T/mbox"
assert_rc fresh-mbox 0
lines fresh-mbox 3
[ ! -e "$T/mbox" ] || fail "the dry run created the mbox"
pf_run fresh-mda -n --mda "touch $T/mda-ran; cat >/dev/null"
assert_rc fresh-mda 0
lines fresh-mda 3
[ ! -e "$T/mda-ran" ] || fail "the dry run ran the MDA"
unchanged fresh-mda

# 2. A real --keep run records the three; three more arrive.
pf_run real --keep --maildir "$T/mail"
assert_rc real 0
[ "$(maildir_count "$T/mail")" -eq 3 ] || fail "the real run did not fetch"
pf_mailgen --count 1 --plain --size 1000:2000 --seed 132 --start 10
pf_mailgen --count 1 --plain --size 30000:40000 --seed 133 --start 20
pf_mailgen --count 1 --plain --size 80000:90000 --seed 134 --start 30
ids=$(server_ids)
retr=$(retr_sessions)
sum=$(state_sum)
mail_before=$(find "$T/mail" -type f | sort)
[ "$(dovecot_count_messages)" -eq 6 ] || fail "the server lacks the new mail"

# 3. Keep mode: the three seen ones are skipped, the new ones fetched.
pf_run keep -n --keep --maildir "$T/mail"
assert_rc keep 0
lines keep 6
for i in 1 2 3; do
	says keep "$i" 'skip|seen'
	grep -E "message $i\\b" "$T/keep.out" | grep -qiE "$FETCH|delete" &&
	    fail "keep: message $i (seen) would be fetched or deleted"
done
# Dovecot gives the three new ones the numbers 4, 5 and 6.
for i in 4 5 6; do says keep "$i" "$FETCH"; done
unchanged keep

# 4. Delete mode: the delivered ones would be deleted without fetching.
pf_run del -n --maildir "$T/mail"
assert_rc del 0
lines del 6
for i in 1 2 3; do
	says del "$i" 'delete'
	grep -E "message $i\\b" "$T/del.out" | grep -qiE "$FETCH" &&
	    fail "del: message $i (delivered before) would be fetched again"
done
for i in 4 5 6; do says del "$i" "$FETCH"; done
unchanged del

# 5. Size limits: the small new one fetched, the middling one over
# --max-size skipped (left), the large one over --kill-size deleted
# without download. Dovecot numbers the three new ones in an order of
# its own, so they are found by the size on their line.
# size_line NAME MIN MAX: the line of the one message of that size.
size_line() {
	awk -v lo="$2" -v hi="$3" '{
		if (match($0, /[0-9]+ octets/)) {
			n = substr($0, RSTART, RLENGTH) + 0
			if (n >= lo && n <= hi) print
		}
	}' "$T/$1.out"
}
pf_run sizes -n --max-size 20000 --kill-size 60000 --maildir "$T/mail"
assert_rc sizes 0
lines sizes 6
small=$(size_line sizes 1 20000 | grep -viE 'delivered|seen')
mid=$(size_line sizes 20001 60000)
large=$(size_line sizes 60001 999999)
[ "$(printf '%s\n' "$small" | grep -c .)" -eq 1 ] &&
    [ "$(printf '%s\n' "$mid" | grep -c .)" -eq 1 ] &&
    [ "$(printf '%s\n' "$large" | grep -c .)" -eq 1 ] ||
    { show sizes; fail "sizes: cannot tell the three new messages apart"; }
printf '%s\n' "$small" | grep -qiE "$FETCH" ||
    { show sizes; fail "sizes: the small new message would not be fetched"; }
printf '%s\n' "$mid" | grep -qiE 'skip|leave|max' ||
    { show sizes; fail "sizes: the one over --max-size is not skipped"; }
printf '%s\n' "$mid" | grep -qiE "$FETCH|delete" &&
    fail "sizes: the one over --max-size would be fetched or deleted"
printf '%s\n' "$large" | grep -qi 'delete' ||
    { show sizes; fail "sizes: the one over --kill-size is not deleted"; }
printf '%s\n' "$large" | grep -qiE "$FETCH" &&
    fail "sizes: the one over --kill-size would be downloaded"
unchanged sizes

# 6. --limit 1: one would be fetched, the others not.
pf_run limit -n --keep --limit 1 --maildir "$T/mail"
assert_rc limit 0
n=$(grep -ciE "$FETCH" "$T/limit.out")
[ "$n" -eq 1 ] || { show limit; fail "limit: $n would be fetched, not 1"; }
unchanged limit

[ "$(find "$T/mail" -type f | sort)" = "$mail_before" ] ||
    fail "the dry runs changed the Maildir"
# And a real run afterwards still finds all three new ones.
pf_run after --maildir "$T/mail"
assert_rc after 0
[ "$(maildir_count "$T/mail")" -eq 6 ] || fail "the real run after the dry runs"
[ "$(dovecot_count_messages)" -eq 0 ] || fail "the real run left mail"
pass
