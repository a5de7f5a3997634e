#!/bin/bash
# Crash loop, delete mode, 300 messages, once into a Maildir and once into
# an mbox (each with its own Dovecot): popfetch is killed (the fault hooks'
# _exit(137), what kill -9 does to the files) at 30 points spread over the
# run, alternating byte offsets (POPFETCH_FAULT_AFTER_BYTES, spread over
# what is left to receive) and named points (POPFETCH_FAULT_AT=NAME:K, K
# spread over the events left in the run). After every kill nothing may be
# lost or duplicated so far and nothing may have left the server without
# a QUIT; then runs without a fault must empty the server, and the target
# must hold the corpus exactly once, byte-exact.
# Without fault hooks (a Release build) the byte offsets become the fault
# proxy's connection cuts (exit 75, not a kill) and the named points are
# skipped; the output says so.
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/crash.sh
. "$PF_LIB/crash.sh"
pf_init

WANT_KILLS=${PF_CRASH_KILLS:-30}
NMSG=300
hooks=0
if "$POPFETCH" --version 2>/dev/null | grep -q 'fault-injection'; then
	hooks=1
else
	note "SKIPPED: no fault hooks in this binary (build with" \
	    "-DPOPFETCH_FAULT=ON): named points are not tested and byte" \
	    "offsets are proxy connection cuts (exit 75), not kills"
fi

# fault_named POINT S F DELTA: print NAME:K for a point, or nothing when
# the run cannot reach it. S messages are on the server, F of them not yet
# delivered, and the fault should land DELTA messages into the delivery of
# those F (so that the kills walk through the corpus). The aim assumes
# batches of 50 messages; a batch now holds up to 256 (plan.h), so a
# later batch may not exist and the run completes ("not reached"). The
# mbox appends in 64 KiB chunks.
fault_named() {
	local p=$1 s=$2 f=$3 d=$4 b k h avg
	b=$(((f + 49) / 50))
	case $p in
	after_body | after_sink_commit)
		[ "$f" -ge 1 ] || return 0
		k=$((d < f ? d : f)) ;;
	after_sink_sync | after_state_flush | uidl-append | \
	    mbox_after_record | mbox_after_append)
		[ "$f" -ge 1 ] || return 0
		k=$(((d + 49) / 50))
		[ "$k" -le "$b" ] || k=$b ;;
	mbox_mid_append)
		avg=$(crash_avg_wire)
		h=$((f * avg / 65536 - b))
		[ "$h" -ge 2 ] || return 0
		k=$((h * (d < f ? d : f) / f)) ;;
	after_dele)
		# DELEs of what earlier runs delivered come first.
		[ "$s" -ge 1 ] || return 0
		k=$((s - f + (d < f ? d : f)))
		[ "$k" -le "$s" ] || k=$s ;;
	before_quit)
		# Reached once everything was delivered: only near the end.
		[ "$d" -ge "$f" ] || return 0
		k=1 ;;
	*) fail "unknown point $p" ;;
	esac
	[ "$k" -ge 1 ] || k=1
	printf '%s:%s\n' "$p" "$k"
}

# crash_loop KIND SEED: the whole loop for one delivery kind.
crash_loop() {
	local kind=$1 seed=$2 points kills=0 runs=0 named=0 s f s2 rc avg
	local fault what off pi=0 pos delta tries refills=0 notreached=0
	local cuts=0
	crash_setup "$kind" "$seed" "$NMSG"
	avg=$(crash_avg_wire)
	points=(after_body after_sink_commit after_sink_sync after_state_flush
	    after_dele before_quit uidl-append)
	if [ "$kind" = mbox ]; then
		points+=(mbox_mid_append mbox_after_record mbox_after_append)
	fi
	note "$kind: $NMSG messages, average $avg bytes on the wire"
	while [ "$kills" -lt "$WANT_KILLS" ]; do
		runs=$((runs + 1))
		[ "$runs" -le $((WANT_KILLS * 3)) ] ||
		    fail "$kind: $runs runs and only $kills faults"
		s=$(dovecot_count_messages)
		f=$((s - $(crash_delivered)))
		[ "$f" -ge 0 ] || f=0
		if [ "$s" -eq 0 ]; then
			# Every fault landed after the data ran out: more.
			refills=$((refills + 1))
			[ "$refills" -le 5 ] || fail "$kind: refilled 5 times"
			crash_refill 60
			note "$kind: server empty after $kills faults: 60 more"
			continue
		fi
		# Kill n aims at message n*NMSG/(WANT_KILLS-1) of the corpus.
		pos=$(((kills + 1) * NMSG / (WANT_KILLS - 1)))
		delta=$((pos - (s - f)))
		[ "$delta" -ge 1 ] || delta=1
		fault=
		what=
		if [ "$kills" -eq 0 ] && [ "$hooks" = 1 ]; then
			# The first flush creates the state file (rewrite).
			fault=uidl-rename:1
		elif [ "$kills" -eq $((WANT_KILLS - 1)) ] && [ "$hooks" = 1 ]; then
			# The end-of-run compaction, after QUIT.
			fault=uidl-rename:1
		elif [ $((kills % 2)) -eq 0 ] && [ "$hooks" = 1 ]; then
			tries=0
			while [ -z "$fault" ]; do
				tries=$((tries + 1))
				[ "$tries" -le 20 ] || fail "no reachable point"
				fault=$(fault_named "${points[$pi]}" "$s" "$f" \
				    "$delta")
				pi=$(((pi + 1) % ${#points[@]}))
			done
			named=$((named + 1))
		else
			# Greeting, CAPA and login (1.5 KB), UIDL and LIST
			# (35 bytes a message), DELE replies for what was
			# delivered before (20), then the bodies. When the
			# run has nothing left to aim at, land in the first
			# part instead.
			off=$((1500 + s * 35 + (s - f) * 20))
			if [ "$f" -eq 0 ] || [ "$delta" -le 1 ]; then
				off=$((off * (1 + kills % 3) / 4))
			else
				[ "$delta" -le "$f" ] || delta=$f
				off=$((off + (delta - 1) * avg + avg / 2))
			fi
			what="bytes:$off"
		fi
		if [ -n "$fault" ]; then
			POPFETCH_FAULT_AT=$fault pf_run "run$runs" "${CR_TARGET[@]}"
			what=$fault
		elif [ "$hooks" = 1 ]; then
			POPFETCH_FAULT_AFTER_BYTES=$off pf_run "run$runs" \
			    "${CR_TARGET[@]}"
		else
			crash_proxy --cut-after-bytes "$off" --once
			PF_PORT=$PROXY_PORT pf_run "run$runs" "${CR_TARGET[@]}"
			proxy_stop
		fi
		rc=$PF_RC
		s2=$(dovecot_count_messages)
		case $rc in
		137 | 75)
			if [ "$rc" = 75 ] && [ "$hooks" = 1 ]; then
				show "run$runs"
				fail "$kind: run $runs ($what) exited 75"
			fi
			[ "$rc" = 137 ] || cuts=$((cuts + 1))
			kills=$((kills + 1)) ;;
		0)
			notreached=$((notreached + 1))
			# Warnings about what a kill left (a stale mbox
			# lock, a torn record) are fine; errors are not.
			if grep -v '^popfetch: warning: ' "$T/run$runs.err"; then
				fail "$kind: run $runs printed more than warnings"
			fi
			note "$kind: $what not reached; the run completed" ;;
		*)
			show "run$runs"
			fail "$kind: run $runs ($what) exited $rc, expected 137 or 0" ;;
		esac
		# A run killed before QUIT must not have deleted anything.
		# With PIPELINING the last batch's DELEs go out with QUIT, so
		# a kill after one of their answers (after_dele beyond the
		# s - f DELEs of earlier runs' messages) may come after the
		# server has its QUIT: docs/internals.md's after_quit_sent.
		if [ "$rc" != 0 ] && [ "${what%%:*}" != uidl-rename ] &&
		    [ "${what%%:*}" != bytes ] && [ "$s2" -ne "$s" ] &&
		    ! { [ "${what%%:*}" = after_dele ] &&
			[ "${what#*:}" -gt $((s - f)) ]; }; then
			fail "$kind: $what: $((s - s2)) messages left the" \
			    "server without a QUIT"
		fi
		[ "$s2" -le "$s" ] || fail "$kind: the server gained messages"
		if ! crash_verify --allow-missing-from-server-dir \
		    "$DC_MAILDIR" 2>"$T/verify$runs.err"; then
			if [ "$kind" = mbox ] &&
			    [ "${what%%:*}" = mbox_mid_append ]; then
				# A partial append until the next run's
				# recovery cuts it back (checked after it).
				note "$kind: partial append left by $what"
			else
				cat "$T/verify$runs.err" >&2
				fail "$kind: after run $runs ($what): lost," \
				    "duplicated or corrupt messages"
			fi
		fi
		note "$kind: fault $kills/$WANT_KILLS at $what: server" \
		    "$s -> $s2, delivered $(crash_delivered)"
	done
	# Runs without a fault until one leaves the server empty (without
	# hooks through a proxy without faults on the same port: the
	# account is user@host:port).
	local port=$DC_POP3S_PORT
	if [ "$hooks" = 0 ]; then
		crash_proxy
		port=$PROXY_PORT
	fi
	for runs in $(seq $((runs + 1)) $((runs + 3))); do
		PF_PORT=$port pf_run "run$runs" "${CR_TARGET[@]}"
		assert_rc "run$runs" 0
		[ "$(dovecot_count_messages)" -ne 0 ] || break
	done
	s=$(dovecot_count_messages)
	[ "$s" -eq 0 ] || fail "$kind: $s messages left after three clean runs"
	crash_verify || fail "$kind: the target is not exactly the corpus" \
	    "(lost or duplicated messages)"
	# One more run: nothing to do, nothing on stderr, nothing changes.
	PF_PORT=$port pf_run "idle-$kind" "${CR_TARGET[@]}"
	assert_rc "idle-$kind" 0
	assert_empty "$T/idle-$kind.err" "stderr of an idle run"
	crash_verify || fail "$kind: the idle run changed the target"
	[ "$hooks" = 1 ] || proxy_stop
	if [ "$hooks" = 1 ]; then
		note "$kind: $kills kills by fault hooks ($named at named" \
		    "points, $((kills - named)) at byte offsets)," \
		    "$notreached faults not reached, $refills refills," \
		    "$(crash_tmp_left) files left in tmp/ by kills;" \
		    "$(crash_delivered) delivered exactly once"
	else
		note "$kind: $kills connection cuts by the proxy (not kills)," \
		    "named points skipped: no fault hooks;" \
		    "$(crash_delivered) delivered exactly once"
	fi
	TOTAL_KILLS=$((TOTAL_KILLS + kills))
}

TOTAL_KILLS=0
start=$(date +%s)
crash_loop maildir 101
crash_loop mbox 202
note "total: $TOTAL_KILLS faults in $(($(date +%s) - start)) s"
pass
