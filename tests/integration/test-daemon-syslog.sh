#!/bin/bash
# The daemon logs to syslog when asked ("syslog on" in the config), and
# quiet_temporary applies under it: a daemon whose password is wrong logs
# the failure once to syslog (LOG_MAIL), not on every poll, and nothing
# to stderr; a daemon whose server is down with "quiet_temporary 3" logs
# nothing for the first two failures. Same namespace set-up as
# test-syslog (needs root; skipped without it).
. "$(dirname "$0")/../lib/common.sh"
. "$PF_LIB/syslogns.sh"
syslogns_need_root
pf_init
pf_server
pf_mailgen --count 2 --plain --seed 131

syslogns_start

# nsd NAME CONFIG: a daemon inside the namespace, in the background
# (unshare and the script exec, so DPID is popfetch itself).
nsd() {
	unshare --mount bash "$T/ns.sh" "$T/log.sock" "$POPFETCH" -C "$2" \
	    </dev/null >"$T/$1.out" 2>"$T/$1.err" &
	DPID=$!
	_pf_proxies+=("$DPID") # the EXIT trap kills it if the test fails
}

# stop: SIGTERM; exit 0 within 15 s.
stop() {
	local _ rc
	kill -TERM "$DPID"
	for _ in $(seq 1 150); do
		kill -0 "$DPID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$DPID" 2>/dev/null && { kill -9 "$DPID"; fail "still running after SIGTERM"; }
	wait "$DPID"
	rc=$?
	[ "$rc" -eq 0 ] || fail "exit $rc after SIGTERM"
}

# 1. A wrong password, polled every second until Dovecot has seen three
# logins (it delays each failure): one syslog line.
wrong=wrong-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
printf '%s\n' "$wrong" >"$T/wrongpw"
cat >"$T/rc1" <<CONF
defaults
  syslog on
  daemon 1
account a
  host localhost
  port $DC_POP3S_PORT
  user $DC_USER
  ca_file $DC_CA
  password_command "cat $T/wrongpw"
  state_dir $T/state
  maildir $T/mail
CONF
nsd d1 "$T/rc1"
for _ in $(seq 1 300); do
	[ "$(dovecot_login_attempts)" -ge 3 ] && break
	sleep 0.1
done
logins=$(dovecot_login_attempts)
[ "$logins" -ge 3 ] || fail "the daemon did not poll three times in 30 s"
sleep 0.5
n=$(grep -c 'popfetch' "$T/syslog.txt")
note "wrong password: Dovecot saw $logins logins; $n syslog lines"
[ "$n" -eq 1 ] || { cat "$T/syslog.txt" >&2; fail "$n syslog lines, want 1"; }
pri=$(sed -n 's/^<\([0-9]*\)>.*/\1/p' "$T/syslog.txt" | head -n 1)
[ $((pri / 8)) -eq 2 ] || fail "facility is not LOG_MAIL: <$pri>"
stop
assert_empty "$T/d1.err" "stderr of a daemon with 'syslog on'"
grep -qF -- "$wrong" "$T/syslog.txt" && fail "the (wrong) password reached syslog"

# 2. The server down, quiet_temporary 3, interval 1: the first two
# failures (about 0 s and 2 s; then back-off) log nothing.
: >"$T/syslog.txt"
port=$(_dc_free_port)
cat >"$T/rc2" <<CONF
defaults
  syslog on
  daemon 1
account b
  host 127.0.0.1
  port $port
  user $DC_USER
  password_command "cat $DC_PASS_FILE"
  state_dir $T/state
  maildir $T/mail
  quiet_temporary 3
  timeout 5
CONF
nsd d2 "$T/rc2"
sleep 3
[ ! -s "$T/syslog.txt" ] || { cat "$T/syslog.txt" >&2
    fail "quiet_temporary 3: a failure was logged before the third"; }
stop
[ "$(cat "$T/state/"*.tempfail)" -ge 2 ] ||
    fail "the daemon did not count the temporary failures"
assert_empty "$T/d2.err" "stderr of the second daemon"
pass
