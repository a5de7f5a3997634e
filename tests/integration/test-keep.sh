#!/bin/bash
# --keep: every message is delivered, the server keeps the same files; a
# second --keep run delivers nothing new (the state remembers).
. "$(dirname "$0")/../lib/common.sh"
pf_init
pf_server
pf_mailgen --count 120 --seed 21

# Dovecot renames new/X to cur/X:2,S once a message is read; compare the
# base names (before ':') and the contents.
server_digest() {
	(cd "$DC_MAILDIR" && for f in new/* cur/*; do
		[ -f "$f" ] || continue
		b=${f#*/}
		printf '%s %s\n' "${b%%:*}" "$(sha256sum <"$f" | cut -d' ' -f1)"
	done | sort)
}
before=$(server_digest)

pf_run keep --maildir "$T/mail" --keep
assert_rc keep 0
assert_empty "$T/keep.err" "stderr of a successful run"
verify --maildir "$T/mail" || fail "the Maildir does not hold exactly the corpus"
after=$(server_digest)
[ "$(dovecot_count_messages)" -eq "$PF_NMSG" ] || fail "messages vanished from the server"
[ "$before" = "$after" ] || fail "the server's messages changed"

pf_run keep2 --maildir "$T/mail" --keep
assert_rc keep2 0
verify --maildir "$T/mail" || fail "the second --keep run delivered again"
[ "$(dovecot_count_messages)" -eq "$PF_NMSG" ] || fail "messages vanished from the server"

# Without --keep the next run must delete them without fetching again.
pf_run del --maildir "$T/mail"
assert_rc del 0
verify --maildir "$T/mail" || fail "the delete run delivered again"
n=$(dovecot_count_messages)
[ "$n" -eq 0 ] || fail "$n messages still on the server after a delete run"
pass
