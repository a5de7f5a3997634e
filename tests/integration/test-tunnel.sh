#!/bin/bash
# POP3 over a tunnel command's stdin and stdout (like fetchmail's plugin):
# - socat as the tunnel, with implicit TLS (verified against the IP SAN of
#   127.0.0.1 and the name localhost), STARTTLS, and plain POP3: every
#   message once; %h and %p reach the command as single words;
# - a command that writes a megabyte to stderr first still works (stderr
#   is drained while we wait), and what it leaves running in the
#   background is gone after the run (its process group is ended);
# - the command exits at once: exit 75, one line with its status and its
#   last stderr line, with implicit TLS and with STARTTLS;
# - the command hangs: the deadline ends the run (75) within seconds, and
#   the command is gone afterwards, also when it ignores SIGTERM;
# - the POP3 password is in neither the tunnel command's nor popfetch's
#   /proc cmdline or environ, nor in any output.
. "$(dirname "$0")/../lib/common.sh"
. "$PF_LIB/reach.sh"
pf_init
reach_init
command -v socat >/dev/null || fail "socat is not installed"
pf_server
# Markers unique to this run, to find leftovers by command line.
M=$$$RANDOM

pf_mailgen --count 30 --plain --seed 1
PF_HOST=127.0.0.1 pf_run tls --tunnel 'socat - TCP:%h:%p' --maildir "$T/m1"
assert_rc tls 0
assert_empty "$T/tls.err" "stderr of the tunnelled TLS run"
verify --maildir "$T/m1" || fail "the Maildir does not hold the corpus"

# %h and %p as single words; STARTTLS over the tunnel, checked for localhost.
pf_mailgen --count 5 --plain --seed 2
cat >"$T/argv-tunnel" <<'EOF'
#!/bin/sh
printf '%s\n' "$@" >"$ARGV_FILE"
exec socat - "TCP:$1:$2"
EOF
chmod 0755 "$T/argv-tunnel"
ARGV_FILE=$T/argv PF_PORT=$DC_POP3_PORT pf_run stls --starttls \
    --tunnel "$T/argv-tunnel %h %p" --maildir "$T/m2"
assert_rc stls 0
assert_empty "$T/stls.err" "stderr of the tunnelled STARTTLS run"
[ "$(maildir_count "$T/m2")" -eq 5 ] || fail "STARTTLS over a tunnel: not 5 messages"
printf 'localhost\n%s\n' "$DC_POP3_PORT" | cmp -s - "$T/argv" ||
    fail "%h and %p did not arrive as two words: $(cat "$T/argv")"

# Plain POP3 over the tunnel (the password goes in clear, with a warning).
pf_mailgen --count 5 --plain --seed 3
PF_PORT=$DC_POP3_PORT pf_run plain --no-tls --auth user \
    --tunnel 'socat - TCP:%h:%p' --maildir "$T/m3"
assert_rc plain 0
[ "$(maildir_count "$T/m3")" -eq 5 ] || fail "plain POP3 over a tunnel: not 5 messages"

# A megabyte on stderr before connecting, and a background child left behind.
pf_mailgen --count 5 --plain --seed 4
PF_HOST=127.0.0.1 pf_run chatty \
    --tunnel "sleep 3$M & head -c 1048576 /dev/zero | tr '\\0' x >&2; exec socat - TCP:%h:%p" \
    --maildir "$T/m4"
assert_rc chatty 0
[ "$(maildir_count "$T/m4")" -eq 5 ] || fail "the chatty tunnel did not deliver"
sleep 0.2
[ -z "$(reach_pids_of "sleep 3$M")" ] || fail "the tunnel's background child survived the run"

# The command exits at once, before TLS and before the greeting.
pf_mailgen --count 2 --plain --seed 5 --start 100
for mode in tls stls; do
	opts=()
	[ "$mode" = stls ] && opts=(--starttls --port "$DC_POP3_PORT")
	pf_run "exit-$mode" "${opts[@]}" \
	    --tunnel "echo 'ssh: connect to host gw port 22: No route to host' >&2; exit 3" \
	    --maildir "$T/m5"
	assert_rc "exit-$mode" 75
	assert_one_line "exit-$mode"
	grep -q "tunnel command exited with status 3: ssh: connect to host gw port 22: No route to host$" \
	    "$T/exit-$mode.err" || { show "exit-$mode"; fail "the tunnel's exit and stderr are not shown"; }
done
[ "$(dovecot_count_messages)" -eq 2 ] || fail "messages vanished"

# The command hangs: the deadline ends the run; the command is ended too,
# even when it ignores SIGTERM.
for mode in term ignore; do
	cmd="exec sleep 4$M"
	[ "$mode" = ignore ] && cmd="trap '' TERM; sleep 4$M; sleep 4$M"
	PF_TIMEOUT=2 pf_run "hang-$mode" --tunnel "$cmd" --maildir "$T/m5"
	assert_rc "hang-$mode" 75
	assert_one_line "hang-$mode"
	grep -q "timed out after 2 seconds" "$T/hang-$mode.err" ||
	    fail "the hanging tunnel is not reported as a timeout"
	awk -v s="$PF_SECS" 'BEGIN { exit !(s < 10) }' ||
	    fail "the hanging tunnel held the run for ${PF_SECS}s"
	[ -z "$(reach_pids_of "sleep 4$M")" ] ||
	    fail "the hanging tunnel command ($mode) survived the run"
done
[ "$(dovecot_count_messages)" -eq 2 ] || fail "messages vanished"

# /proc of popfetch and of the tunnel command while it runs.
(
	export -n DC_PASS
	PF_HOST=127.0.0.1 pf_run procs --tunnel "sleep 2; exec socat - TCP:%h:%p # 5$M" \
	    --maildir "$T/m6"
	echo "$PF_RC" >"$T/procs.rc"
) &
runner=$!
seen=0
for _ in $(seq 1 15); do
	for pid in $(reach_pids_of "5$M"); do
		assert_proc_clean "$pid" "$DC_PASS"
		seen=$((seen + 1))
	done
	sleep 0.1
done
wait "$runner"
[ "$seen" -gt 0 ] || fail "never saw the tunnel command running"
PF_RC=$(cat "$T/procs.rc")
assert_rc procs 0
[ "$(maildir_count "$T/m6")" -eq 2 ] || fail "the last tunnelled run did not fetch"
for f in "$T"/*.out "$T"/*.err; do
	assert_no_secret "$f"
done
pass
