#!/bin/bash
# Fetch the 500-message nasty corpus (with the 5 MB message) over implicit
# TLS into a Maildir: every message byte-exact exactly once, the server
# empty afterwards, exit 0, nothing on stdout or stderr, tmp/ empty.
. "$(dirname "$0")/../lib/common.sh"
pf_init
pf_server
pf_mailgen --count 500 --big --seed 11
[ "$(dovecot_count_messages)" -eq 500 ] || fail "the corpus is not on the server"

pf_run fetch --maildir "$T/mail"
assert_rc fetch 0
assert_empty "$T/fetch.err" "stderr of a successful run"
assert_empty "$T/fetch.out" "stdout of a successful run"
verify --maildir "$T/mail" --originals "$DC_MAILDIR" ||
    fail "the Maildir does not hold exactly the corpus"
[ "$(maildir_tmp_count "$T/mail")" -eq 0 ] || fail "tmp/ is not empty"
n=$(dovecot_count_messages)
[ "$n" -eq 0 ] || fail "$n messages are still on the server"
assert_no_secret "$T/fetch.out" "$T/fetch.err"

# A second run finds nothing and changes nothing.
pf_run again --maildir "$T/mail"
assert_rc again 0
assert_empty "$T/again.err" "stderr of an empty run"
[ "$(maildir_count "$T/mail")" -eq 500 ] || fail "the second run changed the Maildir"
pass
