#!/bin/bash
# The progress bar: under a real pseudo-terminal a fetch of 200 messages
# draws "N/200 messages" on stderr, then a summary line ("200 new, 200
# delivered, ..."); without a terminal nothing is drawn;
# --progress=always draws it into a pipe; --progress=never keeps a
# terminal clean. Every run still delivers the whole corpus.
. "$(dirname "$0")/../lib/common.sh"
pf_init
command -v script >/dev/null ||
    fail "script(1) from util-linux is needed for a pseudo-terminal"
pf_server
pf_mailgen --count 200 --plain --size 200:3000 --seed 91

# args NAME: the usual popfetch arguments (keep, all, own Maildir).
args() {
	PFARGS=(--host localhost --port "$DC_POP3S_PORT" --user "$DC_USER"
	    --password-command "cat $DC_PASS_FILE" --ca-file "$DC_CA"
	    --state-dir "$T/state" --timeout 30 --keep --all
	    --maildir "$T/$1")
}

# pty NAME [ARGS...]: run popfetch under script(1); the terminal's output
# (stdout and stderr together) lands in $T/NAME.out; sets PF_RC.
pty() {
	local name=$1 cmd
	shift
	args "$name"
	cmd=$(printf '%q ' "$POPFETCH" "${PFARGS[@]}" "$@")
	timeout -k 5 300 script -qec "$cmd" /dev/null </dev/null \
	    >"$T/$name.out" 2>"$T/$name.err"
	PF_RC=$?
	note "script -qec 'popfetch ... $*' -> exit $PF_RC"
}

# delivered NAME: the run's Maildir holds the corpus.
delivered() {
	verify --maildir "$T/$1" >/dev/null 2>"$T/verify.err" ||
	    { cat "$T/verify.err" >&2; fail "$1: corpus not delivered"; }
}

# 1. A terminal: the bar is drawn and reaches 200/200.
pty tty
assert_rc tty 0
delivered tty
grep -qa '[0-9]\+/200 messages' "$T/tty.out" ||
    { show tty; fail "no 'N/200 messages' progress bar on the terminal"; }
grep -qa '200/200 messages' "$T/tty.out" ||
    { show tty; fail "the bar never reached 200/200"; }
# ... and is followed by the account's summary line.
grep -qaE '^popfetch: 200 new, 200 delivered, 0 deleted, 200 left, [0-9.]+ [KM]iB, [0-9.]+ s' \
    <(tr '\r' '\n' <"$T/tty.out" | sed 's/\x1b\[K//g') ||
    { show tty; fail "no summary line after the bar on the terminal"; }

# 2. --progress=never on a terminal: no bar.
pty never --progress=never
assert_rc never 0
delivered never
grep -qa '/200 messages' "$T/never.out" &&
    { show never; fail "--progress=never drew a bar on the terminal"; }

# 3. No terminal (files): no bar, nothing at all on stderr.
args plain
pf_run_raw plain "${PFARGS[@]}"
assert_rc plain 0
delivered plain
assert_empty "$T/plain.err" "stderr without a terminal"
assert_empty "$T/plain.out" "stdout without a terminal"

# 4. --progress=always into a pipe.
args always
"$POPFETCH" "${PFARGS[@]}" --progress=always </dev/null 2>&1 \
    >"$T/always.out" | cat >"$T/always.err"
PF_RC=${PIPESTATUS[0]}
assert_rc always 0
delivered always
grep -qa '200/200 messages' "$T/always.err" ||
    { show always; fail "--progress=always drew no bar into the pipe"; }
assert_empty "$T/always.out" "stdout of --progress=always"

# 5. --progress=auto (the default spelled out) into a pipe: no bar.
args auto
"$POPFETCH" "${PFARGS[@]}" --progress=auto </dev/null 2>&1 \
    >"$T/auto.out" | cat >"$T/auto.err"
PF_RC=${PIPESTATUS[0]}
assert_rc auto 0
assert_empty "$T/auto.err" "stderr of --progress=auto into a pipe"
[ "$(dovecot_count_messages)" -eq 200 ] || fail "--keep runs deleted mail"
pass
