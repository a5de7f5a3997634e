#!/bin/bash
# --keep with --only-new (the default): the second run fetches nothing; a
# new message on the server is the only one the next run fetches; --all
# fetches everything again (into a second Maildir, which must then hold
# the whole corpus exactly once); --only-new given explicitly is the
# default. The server never loses a message in keep mode.
. "$(dirname "$0")/../lib/common.sh"
pf_init
pf_server
pf_mailgen --count 40 --seed 51

# verify2 DIR: the Maildir holds both corpora exactly once.
verify2() {
	python3 "$PF_LIB/verify.py" --quiet --manifest "$T/manifest.json" \
	    --manifest "$T/new.json" --maildir "$1"
}

pf_run first --keep --maildir "$T/mail"
assert_rc first 0
assert_empty "$T/first.err" "stderr of the first run"
verify --maildir "$T/mail" --quiet || fail "first run: not exactly the corpus"
[ "$(dovecot_count_messages)" -eq 40 ] || fail "keep mode deleted messages"

pf_run second --keep --maildir "$T/mail"
assert_rc second 0
assert_empty "$T/second.err" "stderr of the second run"
n=$(maildir_count "$T/mail")
[ "$n" -eq 40 ] || fail "the second --keep run fetched $((n - 40)) messages"
verify --maildir "$T/mail" --quiet || fail "second run: duplicates"

# One new message arrives.
python3 "$PF_LIB/mailgen.py" --maildir "$DC_MAILDIR" --manifest "$T/new.json" \
    --count 1 --plain --start 1001 --seed 52 || fail "mailgen.py failed"
dovecot_chown
pf_run third --keep --only-new --json --maildir "$T/mail"
assert_rc third 0
assert_empty "$T/third.err" "stderr of the third run"
n=$(maildir_count "$T/mail")
[ "$n" -eq 41 ] || fail "after a new message: $n delivered, expected 41"
verify2 "$T/mail" || fail "third run: not exactly both corpora once"
[ "$(dovecot_count_messages)" -eq 41 ] || fail "keep mode deleted messages"
python3 - "$T/third.out" <<'PY' || fail "--json does not say 1 fetched"
import json, sys
text = open(sys.argv[1]).read()
doc = json.loads(text)
def find(o):
    if isinstance(o, dict):
        if "fetched" in o:
            yield o["fetched"]
        for v in o.values():
            yield from find(v)
    elif isinstance(o, list):
        for v in o:
            yield from find(v)
got = list(find(doc))
sys.exit(0 if got and sum(got) == 1 else "fetched: %r" % got)
PY

# --all: every message again, seen or not (into another Maildir).
pf_run all --keep --all --maildir "$T/mail2"
assert_rc all 0
assert_empty "$T/all.err" "stderr of the --all run"
verify2 "$T/mail2" || fail "--all did not fetch everything exactly once"
[ "$(dovecot_count_messages)" -eq 41 ] || fail "keep mode deleted messages"
# ... and the original Maildir got nothing from it.
[ "$(maildir_count "$T/mail")" -eq 41 ] || fail "the first Maildir changed"

# After --all, only-new still knows every message.
pf_run again --keep --maildir "$T/mail2"
assert_rc again 0
[ "$(maildir_count "$T/mail2")" -eq 41 ] ||
    fail "an only-new run after --all fetched again"
pass
