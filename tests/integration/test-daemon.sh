#!/bin/bash
# --daemon (issue 19, daemon mode) against a real Dovecot, reached through
# a proxy so the "server" can go away and come back:
#  1. the config key "daemon N" makes a daemon; new mail is fetched within
#     one interval;
#  2. SIGHUP loads the config again (a longer interval), SIGUSR1 polls at
#     once;
#  3. SIGHUP with a broken config: one error line, the old config stays
#     in use; a fixed config then takes effect;
#  4. a second daemon for the same account is refused (exit 75);
#  5. the server goes down and comes back: the daemon backs off (fewer
#     error lines than polls) and fetches again by itself;
#  6. a permanent failure is logged once, not on every poll;
#  7. SIGTERM in the middle of a batch: exit 0, nothing lost, nothing
#     delivered twice (a rerun fetches the rest);
#  8. sd_notify: READY=1, WATCHDOG=1 and STOPPING=1 reach a test socket,
#     an abstract one and a path;
#  9. bad values: --daemon=x and --daemon with -n are usage errors (64),
#     "daemon" in an account block is a config error (78);
# 10. on a terminal, a daemon never asks for a password (it would on every
#     poll): no password source is a config error, logged.
. "$(dirname "$0")/../lib/common.sh"
pf_init
pf_server
proxy_start
port=$PROXY_PORT
fills=0

# rc MAILDIR INTERVAL [EXTRA LINE]: write the config file.
rc() {
	cat >"$T/rc.tmp" <<CONF
defaults
  host 127.0.0.1
  port ${RC_PORT:-$port}
  user $DC_USER
  password_command "${RC_PWCMD:-cat $DC_PASS_FILE}"
  ca_file $DC_CA
  state_dir $T/state
  timeout 10
  daemon $2
${3:-}
account ${RC_NAME:-main}
  maildir $1
CONF
	mv "$T/rc.tmp" "$T/rc"
}

# mail N: N new messages on the server (fresh ids each time).
mail() {
	python3 "$PF_LIB/mailgen.py" --maildir "$DC_MAILDIR" \
	    --manifest "$T/m$fills.json" --count "$1" --plain \
	    --seed $((500 + fills)) --start $((fills * 1000 + 1)) ||
	    fail "mailgen.py failed"
	dovecot_chown
	fills=$((fills + 1))
}

# start NAME ARGS...: popfetch in the background; sets DPID.
start() {
	local name=$1
	shift
	"$POPFETCH" "$@" </dev/null >"$T/$name.out" 2>"$T/$name.err" &
	DPID=$!
	_pf_proxies+=("$DPID") # the EXIT trap kills it if the test fails
}

# wait_count DIR N SECS: until DIR holds N messages; false after SECS.
wait_count() {
	local _
	for _ in $(seq 1 $(($3 * 10))); do
		[ "$(maildir_count "$1")" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

# wait_log NAME PATTERN SECS: until the log of NAME matches PATTERN.
wait_log() {
	local _
	for _ in $(seq 1 $(($3 * 10))); do
		grep -q -- "$2" "$T/$1.err" && return 0
		sleep 0.1
	done
	return 1
}

# alive: the daemon still runs.
alive() {
	kill -0 "$DPID" 2>/dev/null || { show d; fail "the daemon died: $1"; }
}

# stop NAME: SIGTERM, then it must exit 0 within 15 s.
stop() {
	local _ rc
	kill -TERM "$DPID"
	for _ in $(seq 1 150); do
		kill -0 "$DPID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$DPID" 2>/dev/null &&
	    { kill -9 "$DPID"; fail "$1: still running 15 s after SIGTERM"; }
	wait "$DPID"
	rc=$?
	[ "$rc" -eq 0 ] || { show "$1"; fail "$1: exit $rc after SIGTERM, not 0"; }
}

# now: seconds since the epoch, with fractions.
now() { date +%s.%N; }

# 1. The config key makes a daemon; new mail within one interval (3 s).
mail 3
rc "$T/mail" 3
start d -C "$T/rc" -v
wait_count "$T/mail" 3 10 || { show d; fail "the first poll did not fetch"; }
sleep 0.5
mail 2
t0=$(now)
wait_count "$T/mail" 5 10 || { show d; fail "new mail was not fetched"; }
secs=$(awk "BEGIN { printf \"%.1f\", $(now) - $t0 }")
note "new mail fetched after ${secs}s (interval 3 s)"
awk "BEGIN { exit !($secs <= 4.0) }" ||
    fail "new mail took ${secs}s, more than one interval"

# 2. SIGHUP: a one-hour interval; after the poll that was due, new mail
# waits; SIGUSR1 fetches it at once.
rc "$T/mail" 3600
kill -HUP "$DPID"
wait_log d "configuration loaded again" 5 || { show d; fail "SIGHUP did not reload"; }
sleep 4
mail 2
sleep 2
[ "$(maildir_count "$T/mail")" -eq 5 ] ||
    fail "mail was fetched before it was due (interval 3600 s)"
t0=$(now)
kill -USR1 "$DPID"
wait_count "$T/mail" 7 5 || { show d; fail "SIGUSR1 did not fetch at once"; }
note "SIGUSR1: fetched after $(awk "BEGIN { printf \"%.1f\", $(now) - $t0 }")s"

# 3. A broken config on SIGHUP: logged, the old one stays in use.
cp "$T/rc" "$T/rc.good"
printf 'defaults\n  no_such_key 1\n' >"$T/rc"
kill -HUP "$DPID"
wait_log d "stays in use" 5 || { show d; fail "a broken config was not reported"; }
grep -q "no_such_key" "$T/d.err" || { show d; fail "the error does not name the bad key"; }
alive "after SIGHUP with a broken config"
mail 1
kill -USR1 "$DPID"
wait_count "$T/mail" 8 5 || { show d; fail "no fetch with the old config"; }
# A good config again, with another Maildir: it takes effect.
rc "$T/mail2" 3600
kill -HUP "$DPID"
mail 1
sleep 0.5
kill -USR1 "$DPID"
wait_count "$T/mail2" 1 5 || { show d; fail "the fixed config did not take effect"; }
# The account renamed (the same mailbox): its daemon lock passes over.
RC_NAME=renamed rc "$T/mail2" 3600
kill -HUP "$DPID"
sleep 1
mail 1
kill -USR1 "$DPID"
wait_count "$T/mail2" 2 5 || { show d; fail "the renamed account was not fetched"; }
grep -q "already served" "$T/d.err" &&
    { show d; fail "the renamed account found its own daemon lock held"; }

# 4. A second daemon for the same account is refused.
pf_run_raw second -C "$T/rc"
assert_rc second 75
grep -q "already served by another popfetch daemon (pid $DPID)" "$T/second.err" ||
    { show second; fail "the second daemon does not say why it was refused"; }
alive "after the second daemon"

# 5. The server goes down and comes back: one-second interval.
rc "$T/mail2" 1
kill -HUP "$DPID"
wait_log d "every 1 s" 5 || { show d; fail "SIGHUP did not reload"; }
proxy_stop
: >"$T/d.err.mark"
before=$(grep -c "Connection refused\|cannot connect\|refused" "$T/d.err")
sleep 8
after=$(grep -c "Connection refused\|cannot connect\|refused" "$T/d.err")
errs=$((after - before))
note "server down for 8 s with a 1 s interval: $errs error lines"
[ "$errs" -ge 1 ] || { show d; fail "the outage was not logged"; }
[ "$errs" -le 4 ] || { show d; fail "$errs error lines in 8 s: no back-off"; }
grep -q "temporary failure [0-9]* in a row; next try in" "$T/d.err" ||
    { show d; fail "no back-off line at -v"; }
proxy_start --listen-port "$port"
mail 2
wait_count "$T/mail2" 4 25 || { show d; fail "no fetch after the server came back"; }
wait_log d "fetching works again" 5 || { show d; fail "the recovery was not logged"; }

# 6. A permanent failure (the password command fails): logged once.
RC_PWCMD="exit 3" rc "$T/mail2" 1
kill -HUP "$DPID"
sleep 5
n=$(grep -c "password command" "$T/d.err")
[ "$n" -eq 1 ] || { show d; fail "a permanent failure was logged $n times in 5 polls"; }
alive "after a permanent failure"
stop d
assert_no_secret "$T/d.err" "$T/d.out"

# 7. SIGTERM in the middle of a batch: exit 0; a rerun fetches the rest;
# every message exactly once.
find "$DC_MAILDIR/new" "$DC_MAILDIR/cur" -type f -delete
pf_mailgen --count 150 --plain --size 1000:3000 --seed 777 --start 50001
proxy_start --delay-ms 150
RC_PORT=$PROXY_PORT rc "$T/mail3" 3600
start t -C "$T/rc"
# Written counts too: batches are committed about once a second
# (docs/contract.md §6), so new/ alone may show the whole mailbox at once.
written() {
	echo $(($(maildir_count "$T/mail3") + $(maildir_tmp_count "$T/mail3")))
}
for _ in $(seq 1 600); do
	[ "$(written)" -ge 5 ] && break
	sleep 0.1
done
[ "$(written)" -ge 5 ] || { show t; fail "the daemon did not start fetching"; }
[ "$(maildir_count "$T/mail3")" -lt 150 ] || fail "too fast to interrupt"
stop t
got=$(maildir_count "$T/mail3")
note "SIGTERM: $got of 150 delivered, $(dovecot_count_messages) left"
[ "$got" -lt 150 ] || fail "SIGTERM did not stop the batch"
verify --maildir "$T/mail3" --allow-missing-from-server-dir "$DC_MAILDIR" ||
    fail "after SIGTERM: a message lost or delivered twice"
PF_HOST=127.0.0.1 PF_PORT=$PROXY_PORT pf_run rerun --maildir "$T/mail3"
assert_rc rerun 0
verify --maildir "$T/mail3" || fail "after the rerun: not every message exactly once"
proxy_stop

# 8. sd_notify to a test socket: abstract, then a path.
rc "$T/mail4" 3600
for addr in "@popfetch-test-$$" "$T/notify.sock"; do
	rm -f "$T/notify.log" "$T/notify.log.ready" "$T/notify.sock"
	python3 "$PF_LIB/notify_listen.py" "$addr" "$T/notify.log" &
	lpid=$!
	_pf_proxies+=("$lpid")
	for _ in $(seq 1 50); do
		[ -e "$T/notify.log.ready" ] && break
		sleep 0.1
	done
	NOTIFY_SOCKET=$addr WATCHDOG_USEC=400000 start n -C "$T/rc"
	for _ in $(seq 1 50); do
		[ "$(grep -c '^WATCHDOG=1$' "$T/notify.log" 2>/dev/null)" -ge 2 ] &&
		    break
		sleep 0.1
	done
	grep -qx 'READY=1' "$T/notify.log" ||
	    { cat "$T/notify.log" >&2; fail "$addr: no READY=1"; }
	[ "$(grep -c '^WATCHDOG=1$' "$T/notify.log")" -ge 2 ] ||
	    { cat "$T/notify.log" >&2; fail "$addr: WATCHDOG=1 not sent every half interval"; }
	stop n
	sleep 0.3
	grep -qx 'STOPPING=1' "$T/notify.log" ||
	    { cat "$T/notify.log" >&2; fail "$addr: no STOPPING=1"; }
	[ "$(head -n 1 "$T/notify.log")" = READY=1 ] ||
	    fail "$addr: READY=1 was not the first message"
	kill "$lpid"
	wait "$lpid" 2>/dev/null
done

# 9. Bad values.
pf_run_raw badval -C "$T/rc" --daemon=x
assert_rc badval 64
grep -q "invalid number of seconds 'x' for --daemon" "$T/badval.err" ||
    { show badval; fail "--daemon=x: no clear line"; }
pf_run_raw dry -C "$T/rc" --daemon=5 -n
assert_rc dry 64
printf 'account a\n  daemon 5\n' >"$T/rc.bad"
pf_run_raw inacct -C "$T/rc.bad"
assert_rc inacct 78
grep -q "daemon: belongs in the defaults block" "$T/inacct.err" ||
    { show inacct; fail "daemon in an account block: no clear line"; }

# 10. No password source, on a terminal (a pty): no prompt.
mkdir -p "$T/home"
HOME=$T/home python3 - "$POPFETCH" "$T" "$port" >"$T/tty.txt" 2>&1 <<'PY'
import os, pty, select, signal, sys, time
exe, t, port = sys.argv[1:4]
pid, fd = pty.fork()
if pid == 0:
    os.execv(exe, [exe, "--daemon=3600", "--host", "127.0.0.1", "--port",
                   port, "--user", "nobody", "--state-dir", t + "/st-np",
                   "--maildir", t + "/mail-np"])
out, end = b"", time.time() + 3
while time.time() < end:
    r, _, _ = select.select([fd], [], [], 0.1)
    if r:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        out += data
os.kill(pid, signal.SIGKILL)
os.waitpid(pid, 0)
sys.stdout.write(out.decode("utf-8", "replace"))
PY
grep -q "a daemon does not ask on the terminal" "$T/tty.txt" ||
    { cat "$T/tty.txt" >&2; fail "no line saying the daemon does not ask"; }
grep -q "password for nobody@" "$T/tty.txt" &&
    { cat "$T/tty.txt" >&2; fail "the daemon asked for a password"; }
pass
