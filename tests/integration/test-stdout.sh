#!/bin/bash
# --stdout writes an mboxrd stream for pipes.
# 1. `popfetch --stdout | formail -s procmail -m RC` (a tee keeps a copy of
#    the stream) delivers the nasty corpus (225 messages with the 5 MB one)
#    into procmail's Maildir; the stream itself passes verify.py --stream,
#    and each procmail file equals its stream message exactly, except for
#    what the stream format and formail add (deliver_check.py procmail:
#    the separator blank line formail passes on, formail's inserted header
#    end, mboxrd quoting), and then equals the corpus byte for byte.
# 2. A reader that closes early (`head -c 1000`): popfetch exits 74 with
#    one error line. The stream is written one message at a time, and a
#    message counts as delivered only once the reader has taken all of it
#    out of the pipe (a write() that merely filled the pipe buffer is not
#    enough), so the messages deleted must be the first k of the corpus
#    and fit in the 1000 bytes the reader read, and every other message
#    must still be on the server. A next run delivers exactly those, no
#    duplicates.
# 3. The same with messages larger than the pipe: no write can complete,
#    so nothing is deleted at all (verify: 0 lost counting the server).
. "$(dirname "$0")/../lib/common.sh"
pf_init
command -v procmail >/dev/null || fail "procmail is not installed"
command -v formail >/dev/null || fail "formail is not installed (package procmail)"
pf_server
DCK="python3 $PF_LIB/deliver_check.py"

# pf_pipe NAME CMD: run popfetch --stdout (usual options, stderr in
# $T/NAME.err) piped into CMD (a shell command); sets PF_RC and READER_RC.
pf_pipe() {
	local name=$1 rc
	shift
	note "popfetch --stdout | $1"
	timeout -k 5 600 "$POPFETCH" --host localhost --port "$DC_POP3S_PORT" \
	    --user "$DC_USER" --password-command "cat $DC_PASS_FILE" \
	    --ca-file "$DC_CA" --state-dir "$T/state" --timeout 30 --stdout \
	    </dev/null 2>"$T/$name.err" | sh -c "$1"
	rc=("${PIPESTATUS[@]}")
	PF_RC=${rc[0]}
	READER_RC=${rc[1]}
	note "-> popfetch exit $PF_RC, reader exit $READER_RC"
}

# 1. Through formail and procmail.
pf_mailgen --count 225 --big --seed 41
mkdir -p "$T/pm/new" "$T/pm/cur" "$T/pm/tmp"
printf 'DEFAULT=%s/pm/\nLOGFILE=%s/procmail.log\n' "$T" "$T" >"$T/rc"
pf_pipe pipe "tee '$T/stream' | formail -s procmail -m '$T/rc'"
assert_rc pipe 0
[ "$READER_RC" -eq 0 ] || fail "formail/procmail exited $READER_RC"
assert_empty "$T/pipe.err" "stderr of a successful run"
n=$(dovecot_count_messages)
[ "$n" -eq 0 ] || fail "$n messages are still on the server"
verify --stream "$T/stream" --check-senders ||
    fail "the --stdout stream does not hold exactly the corpus"
out=$($DCK procmail "$T/stream" "$T/pm" "$T/pmout") ||
    fail "procmail stored something else than the stream held"
note "procmail: $out"
verify --maildir "$T/pmout" --originals "$DC_MAILDIR" ||
    fail "formail | procmail does not deliver the corpus byte-exact"

# 2. A reader that closes after 1000 bytes.
pf_mailgen --count 100 --seed 42
pf_pipe early "head -c 1000 >'$T/head.out'"
assert_rc early 74
[ "$(wc -l <"$T/early.err")" -eq 1 ] || { cat "$T/early.err" >&2;
    fail "not exactly one line on stderr"; }
grep -Eq '^popfetch: .*(Broken pipe|reader exited)' "$T/early.err" ||
    fail "the error line does not say the reader went away: $(cat "$T/early.err")"
[ "$(stat -c %s "$T/head.out")" -eq 1000 ] || fail "head got no 1000 bytes"
head -c 5 "$T/head.out" | grep -q '^From ' || fail "the stream does not start with From"
k=$($DCK server-prefix "$T/manifest.json" "$DC_MAILDIR" \
    1000 "$T/rest.json") ||
    fail "a message not completely written was deleted"
note "$k messages fit into the pipe before the reader closed it"
pf_run rest --stdout
assert_rc rest 0
assert_empty "$T/rest.err" "stderr of a successful run"
python3 "$PF_LIB/verify.py" --manifest "$T/rest.json" --stream "$T/rest.out" ||
    fail "the next run does not deliver exactly the messages left"
n=$(dovecot_count_messages)
[ "$n" -eq 0 ] || fail "$n messages are still on the server"

# 3. Messages bigger than the pipe: nothing can be delivered.
pf_mailgen --count 5 --plain --size 200000:300000 --seed 43 --start 5001
pf_pipe big "head -c 1000 >/dev/null"
assert_rc big 74
[ "$(wc -l <"$T/big.err")" -eq 1 ] || fail "not exactly one line on stderr"
n=$(dovecot_count_messages)
[ "$n" -eq 5 ] || fail "only $n of 5 messages are still on the server"
: >"$T/empty"
verify --stream "$T/empty" --allow-missing-from-server-dir "$DC_MAILDIR" ||
    fail "a message was lost"
pass
