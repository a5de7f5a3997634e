#!/bin/bash
# The daemon does not leak (issue 19): many polls leave the daemon's RSS,
# its open file descriptors and its child processes flat. The interval is
# 0 (--daemon=0 polls again at once, documented as meant for tests). The
# daemon is measured while idle, after SIGHUP switched it to a one-hour
# interval: once after a warm-up, once after the polls under test.
#   A. 1,000 polls of one account in the daemon process itself (no -j),
#      USER/PASS over loopback, a password command each poll, the mail
#      kept on the server so that every poll lists and compares it;
#   B. 100 polls of one implicit-TLS account in the daemon process (a TLS
#      poll costs more; any leak per poll shows as well in 100);
#   C. 100 polls of two accounts with -j 2 (a worker and a pipe each).
# LEAK_POLLS changes the 1,000 (for a quick run by hand).
. "$(dirname "$0")/../lib/common.sh"
pf_init
pf_server
pf_mailgen --count 5 --plain --seed 901

# rc INTERVAL MODE: the config; MODE plain, tls or two.
rc() {
	{
		printf 'defaults\n  user %s\n' "$DC_USER"
		printf '  password_command "cat %s"\n' "$DC_PASS_FILE"
		printf '  ca_file %s\n  state_dir %s\n' "$DC_CA" "$T/state-$2"
		printf '  timeout 10\n  keep on\n  daemon %s\n' "$1"
		case $2 in
		tls) printf 'account a\n  host localhost\n  port %s\n  auth plain\n' \
		    "$DC_POP3S_PORT" ;;
		*) printf 'account a\n  host localhost\n  port %s\n  no_tls\n  auth user\n' \
		    "$DC_POP3_PORT" ;;
		esac
		printf '  maildir %s\n' "$T/mail-$2-a"
		[ "$2" = two ] &&
		    printf 'account b\n  host 127.0.0.1\n  port %s\n  no_tls\n  auth user\n  maildir %s\n' \
		    "$DC_POP3_PORT" "$T/mail-$2-b"
	} >"$T/rc.tmp"
	mv "$T/rc.tmp" "$T/rc-$2"
}

# done_polls: summary lines so far, divided by the accounts per batch.
done_polls() {
	echo $(($(grep -c ' new, .* delivered, ' "$T/d-$MODE.err") / NACCT))
}

# wait_polls N SECS: until N batches are done.
wait_polls() {
	local _
	for _ in $(seq 1 $(($2 * 10))); do
		[ "$(done_polls)" -ge "$1" ] && return 0
		kill -0 "$DPID" 2>/dev/null || { show "d-$MODE"; fail "$MODE: the daemon died"; }
		sleep 0.1
	done
	fail "$MODE: only $(done_polls) of $1 polls in $2 s"
}

# idle: SIGHUP to a one-hour interval, then wait until the polls stop.
idle() {
	local last=-1 n
	rc 3600 "$MODE"
	kill -HUP "$DPID"
	while :; do
		sleep 1
		n=$(done_polls)
		[ "$n" = "$last" ] && break
		last=$n
	done
}

# measure: RSS (KiB), open fds and children of the daemon.
measure() {
	RSS=$(awk '/^VmRSS:/ { print $2 }' "/proc/$DPID/status")
	FDS=$(find "/proc/$DPID/fd" -mindepth 1 -maxdepth 1 | wc -l)
	KIDS=$(pgrep -P "$DPID" | wc -l)
}

# phase MODE NACCT WARMUP POLLS ARGS...: one daemon, measured twice.
phase() {
	local rss0 fds0 p0 p1 t0 secs
	MODE=$1 NACCT=$2
	local warm=$3 polls=$4
	shift 4
	rc 0 "$MODE"
	"$POPFETCH" -C "$T/rc-$MODE" -a -v "$@" </dev/null \
	    >"$T/d-$MODE.out" 2>"$T/d-$MODE.err" &
	DPID=$!
	_pf_proxies+=("$DPID") # the EXIT trap kills it if the test fails
	wait_polls "$warm" 300
	idle
	measure
	rss0=$RSS fds0=$FDS p0=$(done_polls)
	[ "$(maildir_count "$T/mail-$MODE-a")" -eq 5 ] ||
	    fail "$MODE: the account did not fetch the mail"
	rc 0 "$MODE"
	kill -HUP "$DPID"
	t0=$(date +%s)
	wait_polls $((p0 + polls)) 600
	secs=$(($(date +%s) - t0))
	idle
	measure
	p1=$(done_polls)
	note "$MODE: after $p0 polls RSS $rss0 KiB, $fds0 fds; after $p1" \
	    "($((p1 - p0)) in ${secs}s) RSS $RSS KiB, $FDS fds, $KIDS children"
	[ "$FDS" -eq "$fds0" ] || { ls -l "/proc/$DPID/fd" >&2
	    fail "$MODE: open fds went from $fds0 to $FDS"; }
	[ "$KIDS" -eq 0 ] || { ps --ppid "$DPID" >&2
	    fail "$MODE: $KIDS child processes left"; }
	# Under AddressSanitizer freed memory waits in its quarantine, so RSS
	# grows whatever the code does: there LeakSanitizer's check at the
	# exit below (a leak makes the exit status non-zero) stands in.
	[ "$ASAN" = 1 ] || [ "$RSS" -le $((rss0 + 200)) ] ||
	    fail "$MODE: RSS grew from $rss0 to $RSS KiB"
	if grep -v 'warning: .*clear' "$T/d-$MODE.err" | grep -qi 'error\|fail'; then
		grep -i 'error\|fail' "$T/d-$MODE.err" | head >&2
		fail "$MODE: errors during the polls"
	fi
	[ "$(maildir_count "$T/mail-$MODE-a")" -eq 5 ] ||
	    fail "$MODE: a message was delivered twice"
	kill -TERM "$DPID"
	wait "$DPID" || fail "$MODE: exit $? after SIGTERM"
}

ASAN=0
if nm "$POPFETCH" 2>/dev/null | grep ' __asan_init' >/dev/null; then
	ASAN=1
	note "an AddressSanitizer build: RSS is not compared, LeakSanitizer checks"
fi
phase plain 1 30 "${LEAK_POLLS:-1000}"
phase tls 1 10 100
phase two 2 10 100 -j 2
pass
