#!/bin/bash
# Signals (docs/faults.md #56; docs/contract.md §4): SIGTERM, SIGINT and
# SIGHUP in the middle of a slow fetch of 200 messages stop popfetch within
# a few seconds with exit 75 and a line saying how many messages were
# delivered and that the rest stay on the server; what was delivered is
# committed (deleted on the server: QUIT was sent, seen in the proxy's
# client log and in Dovecot's "Logged out"); a rerun delivers the rest, nothing lost or duplicated.
# A second signal during the graceful stop kills at once (default action),
# and still a rerun loses and duplicates nothing. SIGPIPE never kills
# popfetch: an MDA that exits without reading its input, and --stdout into
# a closed pipe, give exit 74, not 141.
. "$(dirname "$0")/../lib/common.sh"
pf_init
pf_server

delay=${SIG_DELAY_MS:-150}
total=200

# fill SEED: a fresh server mailbox of $total small messages. Each fill
# uses new ids: a file name Dovecot saw expunged confuses its index
# ("Expunged message reappeared") and it lists only part of the mailbox.
fills=0
fill() {
	find "$DC_MAILDIR/new" "$DC_MAILDIR/cur" -type f -delete 2>/dev/null
	pf_mailgen --count "$total" --plain --size 1000:4000 --seed "$1" \
	    --start $((fills * 1000 + 1))
	fills=$((fills + 1))
}

# popfetch_bg NAME PORT ARGS...: start popfetch in the background through
# the proxy (plain POP3 when PORT is the plain port's proxy); sets PID.
popfetch_bg() {
	local name=$1 port=$2
	shift 2
	"$POPFETCH" --host 127.0.0.1 --port "$port" --user "$DC_USER" \
	    --password-command "cat $DC_PASS_FILE" --ca-file "$DC_CA" \
	    --state-dir "$T/state" --timeout 30 "$@" \
	    </dev/null >"$T/$name.out" 2>"$T/$name.err" &
	PID=$!
}

# wait_delivered N: wait until N messages are written into the Maildir,
# committed (new/) or still waiting for their batch's commit (tmp/), max
# 60 s. Batches are committed once a second (docs/contract.md §6), so
# waiting for new/ alone would often see the whole mailbox at once.
wait_delivered() {
	local _
	for _ in $(seq 1 600); do
		[ $(($(maildir_count "$T/mail") + $(maildir_tmp_count "$T/mail"))) \
		    -ge "$1" ] && return 0
		kill -0 "$PID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# wait_exit SECS: wait for $PID to end; sets RC; false after SECS.
wait_exit() {
	local _
	for _ in $(seq 1 $(($1 * 10))); do
		if ! kill -0 "$PID" 2>/dev/null; then
			wait "$PID"
			RC=$?
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# rerun NAME PORT ARGS...: a clean run that must fetch the rest.
rerun() {
	local name=$1 port=$2
	shift 2
	PF_HOST=127.0.0.1 PF_PORT=$port pf_run "$name" "$@" --maildir "$T/mail"
	assert_rc "$name" 0
	verify --maildir "$T/mail" ||
	    fail "$name: not every message exactly once after the rerun"
	[ "$(dovecot_count_messages)" -eq 0 ] ||
	    fail "$name: messages left on the server"
}

# graceful SIG MODE SEED: one signal mid-fetch; MODE is tls or plain.
graceful() {
	local sig=$1 mode=$2 name="sig$1" got left t0 t1 secs
	local -a extra=()
	rm -rf "$T/mail" "$T/state" "$T/client.log"
	fill "$3"
	if [ "$mode" = plain ]; then
		proxy_start --target "127.0.0.1:$DC_POP3_PORT" \
		    --delay-ms "$delay" --log-client "$T/client.log"
		extra=(--no-tls --auth user)
	else
		proxy_start --delay-ms "$delay"
	fi
	popfetch_bg "$name" "$PROXY_PORT" "${extra[@]}" --maildir "$T/mail"
	wait_delivered 5 || { cat "$T/$name.err" >&2
	    fail "$name: popfetch did not start delivering"; }
	[ "$(maildir_count "$T/mail")" -lt "$total" ] ||
	    fail "$name: the fetch was too fast to be interrupted"
	t0=$(date +%s.%N)
	kill -s "$sig" "$PID"
	wait_exit 20 || { kill -9 "$PID"; fail "$name: still running 20 s" \
	    "after SIG$sig"; }
	t1=$(date +%s.%N)
	secs=$(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }")
	got=$(maildir_count "$T/mail")
	left=$(dovecot_count_messages)
	note "SIG$sig ($mode): exit $RC after ${secs}s, $got delivered," \
	    "$left left on the server"
	[ "$RC" -eq 75 ] || { show "$name"; fail "$name: exit $RC, not 75"; }
	awk "BEGIN { exit !($secs <= 10) }" ||
	    fail "$name: took ${secs}s to stop"
	grep -q '^popfetch: ' "$T/$name.err" ||
	    { show "$name"; fail "$name: no 'popfetch: ' error line"; }
	# It says how many were delivered and that the rest stay.
	grep -q "^popfetch: interrupted: $got of $total new messages delivered; the other $((total - got)) stay on the server" \
	    "$T/$name.err" ||
	    { show "$name"; fail "$name: the message does not say that" \
	    "$got of $total were delivered and the rest stay"; }
	[ "$got" -lt "$total" ] || fail "$name: all messages were delivered"
	[ "$(maildir_tmp_count "$T/mail")" -eq 0 ] ||
	    fail "$name: a file is left in tmp/"
	# Durably delivered means committed: DELE and QUIT were sent.
	[ $((got + left)) -eq "$total" ] ||
	    fail "$name: $got delivered + $left on the server != $total" \
	    "(delivered messages not deleted, or lost)"
	if [ "$mode" = plain ]; then
		grep -q '^QUIT' "$T/client.log" ||
		    fail "$name: no QUIT in the client log"
	fi
	sleep 0.3
	tail -n 5 "$DC_LOG" | grep -q 'Disconnected: Logged out' ||
	    { tail -n 5 "$DC_LOG" >&2; fail "$name: Dovecot saw no QUIT"; }
	verify --maildir "$T/mail" \
	    --allow-missing-from-server-dir "$DC_MAILDIR" ||
	    fail "$name: lost or duplicated messages"
	# The rerun goes through the same port (the account is
	# user@host:port), without the delay.
	proxy_stop
	if [ "$mode" = plain ]; then
		proxy_start --target "127.0.0.1:$DC_POP3_PORT" \
		    --listen-port "$PROXY_PORT"
	else
		proxy_start --listen-port "$PROXY_PORT"
	fi
	rerun "$name-rerun" "$PROXY_PORT" "${extra[@]}"
	proxy_stop
}

graceful TERM tls 61
graceful INT plain 62
graceful HUP plain 63

# A second signal during the graceful stop: the default action, at once.
for sig in TERM INT; do
	name=double-$sig
	rm -rf "$T/mail" "$T/state"
	fill "$(kill -l "$sig")"
	proxy_start --delay-ms "$delay"
	popfetch_bg "$name" "$PROXY_PORT" --maildir "$T/mail"
	wait_delivered 5 || fail "$name: popfetch did not start delivering"
	kill -s "$sig" "$PID"
	sleep 0.05
	kill -s "$sig" "$PID" 2>/dev/null
	wait_exit 5 || { kill -9 "$PID"; fail "$name: the second SIG$sig" \
	    "did not stop popfetch within 5 s"; }
	want=$((128 + $(kill -l "$sig")))
	note "double SIG$sig: exit $RC, $(maildir_count "$T/mail") delivered"
	[ "$RC" -eq "$want" ] ||
	    { show "$name"; fail "$name: exit $RC, expected $want (killed" \
	    "by the second SIG$sig)"; }
	# A kill may leave the current batch's files in tmp/ (docs/faults.md
	# M2: a tmp file is not a delivery; removed later or left).
	note "double SIG$sig: $(maildir_tmp_count "$T/mail") files in tmp/"
	rm -f "$T/mail/tmp/"*
	verify --maildir "$T/mail" \
	    --allow-missing-from-server-dir "$DC_MAILDIR" ||
	    fail "$name: lost or duplicated messages after the kill"
	proxy_stop
	proxy_start --listen-port "$PROXY_PORT"
	rerun "$name-rerun" "$PROXY_PORT"
	proxy_stop
done

# SIGPIPE: an MDA that stops reading. Messages larger than a pipe buffer
# make popfetch's write fail with EPIPE rather than fit in the buffer.
find "$DC_MAILDIR/new" "$DC_MAILDIR/cur" -type f -delete 2>/dev/null
rm -rf "$T/state"
pf_mailgen --count 3 --plain --size 300000:400000 --seed 65 --start 9001
for mda in 'true' 'head -c 100 >/dev/null' 'exec 0<&-; sleep 1'; do
	name=mda-$(printf '%s' "$mda" | tr -c 'a-z0-9' '_')
	pf_run "$name" --mda "$mda"
	[ "$PF_RC" -ne 141 ] || fail "$name: killed by SIGPIPE (exit 141)"
	assert_rc "$name" 74
	[ "$(dovecot_count_messages)" -eq 3 ] ||
	    fail "$name: a message left the server without being delivered"
done

# --stdout into a pipe whose reader has gone.
set +o pipefail
timeout -k 5 120 "$POPFETCH" --host localhost --port "$DC_POP3S_PORT" \
    --user "$DC_USER" --password-command "cat $DC_PASS_FILE" \
    --ca-file "$DC_CA" --state-dir "$T/state" --timeout 30 --keep --all \
    --stdout </dev/null 2>"$T/stdout-pipe.err" | head -c 10 >/dev/null
rc=${PIPESTATUS[0]}
set -o pipefail
note "--stdout into a closed pipe: exit $rc"
[ "$rc" -ne 141 ] || fail "--stdout: killed by SIGPIPE (exit 141)"
[ "$rc" -eq 74 ] || { show stdout-pipe; fail "--stdout: exit $rc, not 74"; }
grep -q '^popfetch: ' "$T/stdout-pipe.err" || fail "--stdout: no error line"
[ "$(dovecot_count_messages)" -eq 3 ] || fail "--stdout: messages were lost"
pass
