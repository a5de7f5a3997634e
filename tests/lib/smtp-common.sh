# smtp-common.sh: helpers for the tests of the smtp module against real
# mail servers (tests/integration/test-lmtp-*.sh, test-smtp-*.sh). Source
# it instead of common.sh, which it loads.
#
# Environment: SMTP_SEND (the driver, tests/unit/smtp-send.c; ctest sets
# it, default $PF_BUILDDIR/tests/smtp-send), plus what common.sh reads.
#
#   smtp_init                   pf_init without the popfetch binary; the
#                               EXIT trap also stops Postfix
#   smtp_corpus [mailgen opts]  a mailgen.py corpus plus smtp_verify.py's
#                               extras in $T/corpus (manifest
#                               $T/manifest.json); sets SMTP_FILES (the
#                               message files, in corpus order) and SMTP_N
#   smtp_send NAME ARGS...      run the driver, output in $T/NAME.out and
#                               $T/NAME.err; sets SMTP_RC
#   smtp_assert_rc NAME WANT    SMTP_RC must be WANT
#   smtp_assert_delivered NAME N   N result lines, every one "delivered"
#   smtp_verify ARGS...         smtp_verify.py check with the manifest
#   dovecot_fetch_all FILE      the test user's mailbox as Dovecot serves
#                               it (doveadm fetch), for smtp_verify
#   dovecot_expunge_all         empty the test user's INBOX

. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# shellcheck source=postfix.sh
. "$PF_LIB/postfix.sh"

SMTP_SEND=${SMTP_SEND:-$PF_BUILDDIR/tests/smtp-send}

# smtp_init: temp dir and trap; Postfix is stopped on exit too.
smtp_init() {
	pf_init --no-binary
	trap '_smtp_rc=$?; postfix_stop; (exit $_smtp_rc); _pf_cleanup' EXIT
	[ -x "$SMTP_SEND" ] ||
	    fail "no smtp-send driver at '$SMTP_SEND' (set SMTP_SEND)"
}

# smtp_corpus [mailgen options]: the messages to send.
smtp_corpus() {
	mkdir -p "$T/corpus/new" "$T/corpus/cur" "$T/corpus/tmp"
	python3 "$PF_LIB/mailgen.py" --maildir "$T/corpus" \
	    --manifest "$T/manifest.json" "$@" >/dev/null ||
	    fail "mailgen.py failed"
	python3 "$PF_LIB/smtp_verify.py" add-extras --maildir "$T/corpus" \
	    --manifest "$T/manifest.json" || fail "add-extras failed"
	mapfile -t SMTP_FILES < <(python3 -c 'import json, sys
for m in json.load(open(sys.argv[1]))["messages"]:
    print(sys.argv[2] + "/new/" + m["file"])' "$T/manifest.json" \
	    "$T/corpus")
	SMTP_N=${#SMTP_FILES[@]}
}

# smtp_send NAME ARGS...: the driver with ARGS, no terminal.
smtp_send() {
	local name=$1 t0 t1
	shift
	t0=$(date +%s.%N)
	timeout -k 5 600 "$SMTP_SEND" "$@" </dev/null >"$T/$name.out" \
	    2>"$T/$name.err"
	SMTP_RC=$?
	t1=$(date +%s.%N)
	note "smtp-send ${*:1:6}... -> exit $SMTP_RC in" \
	    "$(awk "BEGIN { printf \"%.2f\", $t1 - $t0 }")s"
}

# smtp_assert_rc NAME WANT: the last run must have exited WANT.
smtp_assert_rc() {
	if [ "$SMTP_RC" -ne "$2" ]; then
		show "$1"
		fail "run '$1' exited $SMTP_RC, expected $2"
	fi
}

# smtp_assert_delivered NAME N: N result lines, all "delivered".
smtp_assert_delivered() {
	local n bad
	n=$(wc -l <"$T/$1.out")
	bad=$(grep -cv '^[0-9]* delivered 2[0-9][0-9] ' "$T/$1.out")
	if [ "$n" -ne "$2" ] || [ "$bad" -ne 0 ]; then
		show "$1"
		fail "run '$1': $n result lines ($2 expected), $bad not delivered"
	fi
}

# smtp_verify ARGS...: smtp_verify.py check against the corpus.
smtp_verify() {
	python3 "$PF_LIB/smtp_verify.py" check --manifest "$T/manifest.json" \
	    --sent "$T/corpus" "$@"
}

# dovecot_fetch_all FILE: Dovecot's view of the test user's mailbox.
dovecot_fetch_all() {
	doveadm -c "$DC_DIR/dovecot.conf" fetch -u "$DC_USER" \
	    'uid size.physical guid text' all >"$1" 2>"$1.err" ||
	    { cat "$1.err" >&2; fail "doveadm fetch failed"; }
}

# dovecot_expunge_all: empty the test user's INBOX.
dovecot_expunge_all() {
	doveadm -c "$DC_DIR/dovecot.conf" expunge -u "$DC_USER" \
	    mailbox INBOX all || fail "doveadm expunge failed"
}
