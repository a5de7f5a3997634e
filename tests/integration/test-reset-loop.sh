#!/bin/bash
# Connection loss loop, delete mode: the fault proxy closes the connection
# (alternately with a TCP reset) at seeded random byte offsets of what is
# left to receive; every run must exit 75 (or 0 when the cut came after
# the end), never leave a file in tmp/, never lose or duplicate a message,
# and never delete without a QUIT. Then, over plain POP3 where the proxy
# reads client lines: the connection cut right after QUIT, before its
# reply (the server may or may not have committed), and right before
# QUIT (it cannot have): same verdict, and a rerun empties the server
# without delivering anything twice.
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/crash.sh
. "$PF_LIB/crash.sh"
pf_init

NRESET=${PF_RESETS:-14}
RANDOM=4242 # the seed: the same offsets every time
crash_setup maildir 303 150
avg=$(crash_avg_wire)
resets=0
runs=0
while [ "$resets" -lt "$NRESET" ]; do
	runs=$((runs + 1))
	[ "$runs" -le $((NRESET * 3)) ] || fail "$runs runs, $resets resets"
	s=$(dovecot_count_messages)
	[ "$s" -gt 0 ] || { crash_refill 40; continue; }
	f=$((s - $(crash_delivered)))
	[ "$f" -ge 0 ] || f=0
	# TLS handshake and login (about 5 KB), listings, DELE replies of
	# what was delivered before, then the bodies; anywhere in there.
	est=$((5000 + s * 60 + f * avg))
	off=$((200 + est * (RANDOM % 1000) / 1000))
	rst=
	[ $((runs % 2)) -eq 0 ] && rst=--rst
	crash_proxy --cut-after-bytes "$off" --once $rst
	PF_PORT=$PROXY_PORT pf_run "run$runs" "${CR_TARGET[@]}"
	proxy_stop
	s2=$(dovecot_count_messages)
	case $PF_RC in
	75)
		resets=$((resets + 1))
		# One error line (warnings aside).
		if [ "$(grep -vc '^popfetch: warning: ' "$T/run$runs.err")" \
		    -ne 1 ] || ! grep -q '^popfetch: ' "$T/run$runs.err"; then
			show "run$runs"
			fail "run $runs: not one error line"
		fi
		[ "$s2" -eq "$s" ] ||
		    fail "run $runs: $((s - s2)) messages deleted without QUIT" ;;
	0)
		note "cut at $off came after the session's end"
		assert_empty "$T/run$runs.err" "stderr of run $runs" ;;
	*)
		show "run$runs"
		fail "run $runs (cut at $off $rst) exited $PF_RC, expected 75" ;;
	esac
	[ "$(maildir_tmp_count "$T/md")" -eq 0 ] ||
	    fail "run $runs: a connection loss left a file in tmp/"
	crash_verify --allow-missing-from-server-dir "$DC_MAILDIR" ||
	    fail "after run $runs (cut at $off $rst): lost, duplicated or" \
	    "corrupt messages"
	note "reset $resets/$NRESET after $off bytes $rst: server $s -> $s2," \
	    "delivered $(crash_delivered)"
done
crash_proxy
for i in 1 2 3; do
	PF_PORT=$PROXY_PORT pf_run "clean$i" "${CR_TARGET[@]}"
	assert_rc "clean$i" 0
	assert_empty "$T/clean$i.err" "stderr of a clean run"
	[ "$(dovecot_count_messages)" -ne 0 ] || break
done
proxy_stop
[ "$(dovecot_count_messages)" -eq 0 ] || fail "messages left on the server"
crash_verify || fail "after $resets resets: not exactly the corpus"
note "$resets connection losses over TLS: nothing lost, nothing duplicated"

# 2. Plain POP3, cut after QUIT (before its reply) and before QUIT.
# shellcheck disable=SC2034 # read by crash_proxy
CR_PPORT=
plain=(-q --no-tls --auth user "${CR_TARGET[@]}")
# faultproxy.py cuts 100 ms after forwarding the line, time enough for
# Dovecot's reply to get through on loopback; with 250 ms of latency each
# way the reply is still on its way when the cut comes, while QUIT itself
# reached the server 150 ms before it.
crash_refill 40
crash_proxy --target "127.0.0.1:$DC_POP3_PORT" --delay-ms 250 \
    --cut-after-client-line '^QUIT' --once --log-client "$T/client1.log"
PF_HOST=127.0.0.1 PF_PORT=$PROXY_PORT pf_run quit-after "${plain[@]}"
proxy_stop
assert_rc quit-after 75
grep -q '^QUIT' "$T/client1.log" || fail "popfetch never sent QUIT"
grep -q "cut: after client line b'QUIT'" "$T/proxy.log" ||
    fail "the proxy did not cut after QUIT"
grep -q '^popfetch: ' "$T/quit-after.err" ||
    { show quit-after; fail "no error line after the lost QUIT reply"; }
s=$(dovecot_count_messages)
note "QUIT reply lost: the server kept $s of 40 (it may have committed)"
crash_verify --allow-missing-from-server-dir "$DC_MAILDIR" ||
    fail "after the lost QUIT reply: lost or duplicated messages"
crash_proxy --target "127.0.0.1:$DC_POP3_PORT"
PF_HOST=127.0.0.1 PF_PORT=$PROXY_PORT pf_run quit-after2 "${plain[@]}"
proxy_stop
assert_rc quit-after2 0
assert_empty "$T/quit-after2.err" "stderr of the rerun"
[ "$(dovecot_count_messages)" -eq 0 ] || fail "the rerun left messages"
crash_verify || fail "after the lost QUIT reply and a rerun: not exact"

crash_refill 40
d0=$(crash_delivered)
crash_proxy --target "127.0.0.1:$DC_POP3_PORT" \
    --cut-before-client-line '^QUIT' --once
PF_HOST=127.0.0.1 PF_PORT=$PROXY_PORT pf_run quit-before "${plain[@]}"
proxy_stop
assert_rc quit-before 75
[ "$(dovecot_count_messages)" -eq 40 ] ||
    fail "messages were deleted although QUIT never reached the server"
[ "$(crash_delivered)" -eq $((d0 + 40)) ] ||
    fail "the run cut before QUIT did not deliver all 40"
crash_verify --allow-missing-from-server-dir "$DC_MAILDIR" ||
    fail "after the cut before QUIT: lost or duplicated messages"
crash_proxy --target "127.0.0.1:$DC_POP3_PORT" --log-client "$T/client2.log"
PF_HOST=127.0.0.1 PF_PORT=$PROXY_PORT pf_run quit-before2 "${plain[@]}"
proxy_stop
assert_rc quit-before2 0
assert_empty "$T/quit-before2.err" "stderr of the rerun"
[ "$(dovecot_count_messages)" -eq 0 ] || fail "the rerun left messages"
# Recorded as delivered: deleted without being downloaded again.
if grep -q '^RETR' "$T/client2.log"; then
	fail "the rerun downloaded messages it had delivered before"
fi
crash_verify || fail "after the cut before QUIT and a rerun: not exact"
note "QUIT cut after and before: nothing lost, nothing duplicated"
pass
