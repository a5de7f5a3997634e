#!/bin/bash
# Deliver the nasty corpus (225 messages with the 5 MB one) from the real
# Dovecot into an mbox, then read it back three independent ways: verify.py
# --mbox (its own split plus mailbox.mbox), Python's mailbox.mbox, and
# procmail's `formail -s`. Each must find every message exactly once and
# byte-identical (From lines at every quoting depth, dot lines, no final
# newline, 8-bit, NUL). mailbox.mbox and formail do not undo mboxrd
# quoting: deliver_check.py removes exactly one '>' from ^>+From lines;
# formail's one change (an empty line inserted where a header ends without
# one) is checked at its exact place and undone (see deliver_check.py).
# A second delivery appends to the same mbox and the whole is read again.
. "$(dirname "$0")/../lib/common.sh"
pf_init
command -v formail >/dev/null || fail "formail is not installed (package procmail)"
pf_server
pf_mailgen --count 225 --big --seed 21
[ "$(dovecot_count_messages)" -eq 225 ] || fail "the corpus is not on the server"
DCK="python3 $PF_LIB/deliver_check.py"

# check_mbox MBOX MANIFEST...: the three readers agree with the manifests.
check_mbox() {
	local mbox=$1 m args=() out
	shift
	for m in "$@"; do
		args+=(--manifest "$m")
	done
	python3 "$PF_LIB/verify.py" "${args[@]}" --mbox "$mbox" \
	    --check-senders --quiet || fail "verify.py --mbox: '$mbox' is wrong"

	rm -rf "$T/py"
	out=$($DCK python-mbox "$mbox" "$T/py") ||
	    fail "mailbox.mbox cannot read '$mbox'"
	note "mailbox.mbox: $out"
	python3 "$PF_LIB/verify.py" "${args[@]}" --maildir "$T/py" --quiet ||
	    fail "mailbox.mbox reads something else than was delivered"

	rm -rf "$T/fm" "$T/fmout"
	mkdir -p "$T/fm"
	# shellcheck disable=SC2016
	formail -s sh -c 'cat > "$0/$FILENO"' "$T/fm" <"$mbox" ||
	    fail "formail -s failed"
	out=$($DCK formail "$mbox" "$T/fm" "$T/fmout") ||
	    fail "formail -s splits '$mbox' differently"
	note "formail: $(echo "$out" | tr '\n' ' ')"
	python3 "$PF_LIB/verify.py" "${args[@]}" --maildir "$T/fmout" --quiet ||
	    fail "formail -s reads something else than was delivered"
}

pf_run mbox --mbox "$T/mbox"
assert_rc mbox 0
assert_empty "$T/mbox.err" "stderr of a successful run"
assert_empty "$T/mbox.out" "stdout of a successful run"
n=$(dovecot_count_messages)
[ "$n" -eq 0 ] || fail "$n messages are still on the server"
[ "$(stat -c %a "$T/mbox")" = 600 ] || fail "the new mbox is not mode 0600"
# Every body line starting with From is quoted: only separators remain.
[ "$(grep -c '^From ' "$T/mbox")" -eq 225 ] ||
    fail "the mbox has $(grep -c '^From ' "$T/mbox") From lines, not 225"
# The from-lines case: each quoting depth gains exactly one '>'.
for q in '>From one' '>>From two' '>>>From three' '>>>>From four'; do
	grep -qxF -- ">$q" "$T/mbox" || fail "'$q' was not quoted to '>$q'"
done
grep -qxF -- '>>From: not quoted' "$T/mbox" ||
    fail "'>>From: not quoted' changed (no space after From: not a From line)"
check_mbox "$T/mbox" "$T/manifest.json"

# A second batch (ordinary messages: the nasty ones would repeat the empty
# message) is appended after the first; the old bytes stay.
cp "$T/manifest.json" "$T/manifest1.json"
sum1=$(head -c "$(stat -c %s "$T/mbox")" "$T/mbox" | sha256sum)
python3 "$PF_LIB/mailgen.py" --maildir "$DC_MAILDIR" \
    --manifest "$T/manifest2.json" --count 40 --seed 22 --start 1001 --plain ||
    fail "mailgen.py failed"
dovecot_chown
size1=$(stat -c %s "$T/mbox")
pf_run mbox2 --mbox "$T/mbox"
assert_rc mbox2 0
assert_empty "$T/mbox2.err" "stderr of a successful run"
[ "$(head -c "$size1" "$T/mbox" | sha256sum)" = "$sum1" ] ||
    fail "the second run changed the first run's bytes"
check_mbox "$T/mbox" "$T/manifest1.json" "$T/manifest2.json"
pass
