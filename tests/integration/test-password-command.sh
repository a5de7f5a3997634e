#!/bin/bash
# The password command (docs/contract.md §1): one that is only plain words
# (`cat FILE`, `pass show mail/work`) runs as that program, with no
# /bin/sh in between (a fork and an exec less per account); one that needs
# the shell (a pipe here) runs under /bin/sh -c as before. Both log in.
# A plain-word command that is not installed is still reported by sh:
# exit 78 naming the password command. Counted with strace.
. "$(dirname "$0")/../lib/common.sh"
pf_init
command -v strace >/dev/null ||
    fail "strace is not installed (scripts/test installs it)"
pf_server
pf_mailgen --count 2 --plain --seed 43

real=$POPFETCH
cat >"$T/pf-strace" <<EOS
#!/bin/sh
export ASAN_OPTIONS="\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}detect_leaks=0"
exec strace -f -qq --seccomp-bpf -e trace=execve -e signal=none \
    -o "$T/exec.trace" "$real" "\$@"
EOS
chmod +x "$T/pf-strace"

# execs NAME: how many execve() calls the traced run made of a path
# ending in /NAME (successful ones only).
execs() {
	grep -c "execve(\"[^\"]*/$1\", .* = 0\$" "$T/exec.trace"
}

POPFETCH=$T/pf-strace pf_run words --keep --maildir "$T/words"
assert_rc words 0
[ "$(maildir_count "$T/words")" -eq 2 ] || fail "plain words: not delivered"
note "plain-word command: $(execs sh) sh, $(execs cat) cat"
[ "$(execs sh)" -eq 0 ] && [ "$(execs cat)" -eq 1 ] || {
	cat "$T/exec.trace" >&2
	fail "the plain-word password command did not run cat directly"
}

POPFETCH=$T/pf-strace pf_run_raw piped --host localhost \
    --port "$DC_POP3S_PORT" --user "$DC_USER" \
    --password-command "cat $DC_PASS_FILE | head -n 1" --ca-file "$DC_CA" \
    --state-dir "$T/state2" --timeout 30 --keep --maildir "$T/piped"
assert_rc piped 0
[ "$(maildir_count "$T/piped")" -eq 2 ] || fail "piped: not delivered"
note "piped command: $(execs sh) sh"
[ "$(execs sh)" -eq 1 ] || {
	cat "$T/exec.trace" >&2
	fail "a password command with a pipe did not run under /bin/sh"
}

pf_run_raw missing --host localhost --port "$DC_POP3S_PORT" \
    --user "$DC_USER" --password-command "no-such-password-tool-xyz get" \
    --ca-file "$DC_CA" --state-dir "$T/state3" --timeout 30 \
    --maildir "$T/missing"
assert_rc missing 78
grep -q '^popfetch: .*password command failed (exit 127)' "$T/missing.err" ||
    { show missing; fail "a missing password tool: no clear error line"; }
[ "$(maildir_count "$T/missing")" -eq 0 ] || fail "missing: delivered"
pass
