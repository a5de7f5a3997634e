# tests/lib/syslogns.sh: a syslog that tests can read back. popfetch runs
# in its own mount namespace (unshare --mount) where /dev/log is a
# datagram socket of ours (tests/lib/ux_syslog.py) writing $T/syslog.txt.
# Needs root for the namespace. Source it after common.sh.

# syslogns_need_root: without root, say "skipped" and exit 0 (CI runs as
# root). Call before pf_init.
syslogns_need_root() {
	if [ "$(id -u)" -ne 0 ]; then
		note "skipped: needs root (unshare --mount to put a socket on /dev/log)"
		exit 0
	fi
}

# syslogns_start: start the sink on $T/log.sock and write $T/ns.sh, which
# runs a command with that socket as /dev/log:
#   unshare --mount bash "$T/ns.sh" "$T/log.sock" COMMAND ARGS...
# Call after pf_init.
syslogns_start() {
	command -v unshare >/dev/null || fail "unshare(1) from util-linux is needed"
	unshare --mount true 2>/dev/null ||
	    fail "unshare --mount is not permitted here although we are root"

	# The sink, outside the namespace; the socket is bind-mounted inside.
	python3 "$PF_LIB/ux_syslog.py" "$T/log.sock" "$T/syslog.txt" \
	    </dev/null >"$T/syslogd.err" 2>&1 &
	_pf_proxies+=("$!")
	for _ in $(seq 1 100); do
		[ -e "$T/syslog.txt.ready" ] && break
		sleep 0.05
	done
	[ -e "$T/syslog.txt.ready" ] || fail "ux_syslog.py did not start"

	# Inside the namespace: put the socket on /dev/log. When /dev/log does not
	# exist (a container without a syslog daemon) a private /dev is built
	# from bind mounts of the few devices popfetch and the shell need.
	cat >"$T/ns.sh" <<-'EOF'
	set -e
	sock=$1
	shift
	if [ -e /dev/log ] || [ -L /dev/log ]; then
		mount --bind "$sock" /dev/log
	else
		d=$(dirname "$sock")/newdev
		mkdir -p "$d"
		mount -t tmpfs -o mode=0755 popfetch-test-dev "$d"
		for n in null zero full random urandom tty; do
			if [ -e "/dev/$n" ]; then
				: >"$d/$n"
				mount --bind "/dev/$n" "$d/$n"
			fi
		done
		ln -s /proc/self/fd "$d/fd"
		ln -s /proc/self/fd/0 "$d/stdin"
		ln -s /proc/self/fd/1 "$d/stdout"
		ln -s /proc/self/fd/2 "$d/stderr"
		: >"$d/log"
		mount --bind "$sock" "$d/log"
		mount --rbind "$d" /dev
	fi
	exec "$@"
	EOF
}

# wait_log REGEX: wait (up to 3 s) for a syslog line matching REGEX.
wait_log() {
	for _ in $(seq 1 60); do
		grep -qE -- "$1" "$T/syslog.txt" && return 0
		sleep 0.05
	done
	return 1
}
