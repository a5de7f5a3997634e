# reach.sh: proxies, tunnels and checks for the reach tests (source it
# after common.sh, call reach_init after pf_init).
#
#   reach_init          chain our cleanup (processes by pid, test user)
#                       before common.sh's
#   reach_shim          print the path of libhostshim.so ($HOSTSHIM, else
#                       $PF_BUILDDIR/tests/libhostshim.so)
#   reach_user          a system user with a random password for dante's
#                       username method (root only), removed at exit; sets
#                       REACH_USER REACH_PASS REACH_PASS_FILE (mode 0600)
#   reach_dante_start [--auth] [--block-port PORT] [--hosts "N=A ..."]
#                       danted -f CONF -p PIDFILE -N 1 on 127.0.0.1, a free
#                       port; --auth: socksmethod username (call
#                       reach_user first); --block-port: refuse CONNECT to
#                       that port by rule; --hosts: preload the hostshim
#                       with PF_HOSTS so danted alone resolves those names.
#                       Sets DANTE_PORT DANTE_PID DANTE_LOG
#   reach_tinyproxy_start [--auth USER PASS] [--connect-port PORT]...
#                       [--hosts "N=A ..."]
#                       tinyproxy -d -c CONF in the foreground on 127.0.0.1;
#                       --connect-port may repeat (the CONNECT ports
#                       allowed; none given: any). Sets TP_PORT TP_PID TP_LOG
#   reach_fake_start MODE [ARG] [--target HOST:PORT]
#                       tests/lib/fakeproxy.py; sets FAKE_PORT FAKE_PID
#                       FAKE_LOG (hex of what clients sent)
#   reach_stop PID      stop one process started here (TERM, wait)
#   reach_pids_of NAME_RE   pids of processes whose cmdline matches
#   assert_one_line NAME    the run's stderr is exactly one line
#   assert_no_text TEXT FILE...   TEXT appears in none of the files
#   assert_proc_clean PID TEXT... /proc/PID/cmdline and environ hold none
#                       of the TEXTs

_reach_pids=()
_reach_users=()

# _reach_cleanup: stop our processes and remove the test users.
_reach_cleanup() {
	local p u
	for p in "${_reach_pids[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${_reach_pids[@]}"; do
		for _ in $(seq 1 50); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	_reach_pids=()
	for u in "${_reach_users[@]}"; do
		userdel "$u" >/dev/null 2>&1
		groupdel "$u" >/dev/null 2>&1
	done
	_reach_users=()
}

# reach_init: install the combined EXIT trap (ours, then common.sh's).
reach_init() {
	trap '_reach_rc=$?; _reach_cleanup; (exit $_reach_rc); _pf_cleanup' EXIT
}

# reach_shim: the hostshim library path.
reach_shim() {
	local s=${HOSTSHIM:-$PF_BUILDDIR/tests/libhostshim.so}
	[ -f "$s" ] || fail "no hostshim at '$s' (build the tests)"
	printf '%s\n' "$s"
}

# reach_user: create a system user with a random password (root only).
reach_user() {
	[ "$(id -u)" -eq 0 ] || fail "reach_user needs root"
	REACH_USER="pfpx-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
	REACH_PASS="px-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')-secret"
	useradd --no-create-home --user-group --shell /usr/sbin/nologin \
	    "$REACH_USER" >/dev/null 2>&1 || fail "cannot create user '$REACH_USER'"
	_reach_users+=("$REACH_USER")
	printf '%s:%s\n' "$REACH_USER" "$REACH_PASS" | chpasswd ||
	    fail "cannot set the password of '$REACH_USER'"
	REACH_PASS_FILE=$T/proxy-password
	(umask 077 && printf '%s\n' "$REACH_PASS" >"$REACH_PASS_FILE")
	# not exported: children (popfetch) must not inherit the secret
}

# _reach_wait_port PID PORT WHAT: wait until PORT accepts; false if PID died.
_reach_wait_port() {
	for _ in $(seq 1 100); do
		kill -0 "$1" 2>/dev/null || return 1
		_dc_port_open "$2" && return 0
		sleep 0.1
	done
	return 1
}

# reach_dante_start [options]: start danted; see the header.
reach_dante_start() {
	local auth=0 block="" hosts="" conf dir method pre=() try
	while [ $# -gt 0 ]; do
		case $1 in
		--auth) auth=1; shift ;;
		--block-port) block=$2; shift 2 ;;
		--hosts) hosts=$2; shift 2 ;;
		*) fail "reach_dante_start: unknown option '$1'" ;;
		esac
	done
	dir=$T/dante.$((${#_reach_pids[@]}))
	mkdir -p "$dir"
	chmod 0755 "$dir"
	conf=$dir/danted.conf
	DANTE_LOG=$dir/danted.log
	method=none
	[ "$auth" = 1 ] && method=username
	for try in 1 2 3 4 5; do
		DANTE_PORT=$(_dc_free_port)
		{
			printf 'logoutput: %s\n' "$DANTE_LOG"
			printf 'internal: 127.0.0.1 port = %s\n' "$DANTE_PORT"
			printf 'external: lo\n'
			printf 'clientmethod: none\nsocksmethod: %s\n' "$method"
			if [ "$(id -u)" -eq 0 ]; then
				printf 'user.privileged: root\n'
				printf 'user.unprivileged: nobody\n'
			fi
			printf 'client pass {\n  from: 127.0.0.0/8 to: 0.0.0.0/0\n}\n'
			if [ -n "$block" ]; then
				printf 'socks block {\n  from: 0.0.0.0/0 to: 0.0.0.0/0 port = %s\n  log: connect error\n}\n' "$block"
				printf 'socks block {\n  from: 0.0.0.0/0 to: ::/0 port = %s\n  log: connect error\n}\n' "$block"
			fi
			printf 'socks pass {\n  from: 127.0.0.0/8 to: 0.0.0.0/0\n  command: connect\n  log: connect disconnect error\n}\n'
			printf 'socks pass {\n  from: 127.0.0.0/8 to: ::/0\n  command: connect\n  log: connect disconnect error\n}\n'
		} >"$conf"
		: >"$DANTE_LOG"
		pre=()
		[ -n "$hosts" ] && pre=(env "LD_PRELOAD=$(reach_shim)" "PF_HOSTS=$hosts")
		"${pre[@]}" danted -f "$conf" -p "$dir/danted.pid" -N 1 \
		    </dev/null >"$dir/danted.out" 2>&1 &
		DANTE_PID=$!
		_reach_pids+=("$DANTE_PID")
		if _reach_wait_port "$DANTE_PID" "$DANTE_PORT"; then
			export DANTE_PORT DANTE_PID DANTE_LOG
			return 0
		fi
		reach_stop "$DANTE_PID"
		grep -q 'in use' "$DANTE_LOG" "$dir/danted.out" || break
	done
	cat "$DANTE_LOG" "$dir/danted.out" >&2
	fail "danted did not start"
}

# reach_tinyproxy_start [options]: start tinyproxy; see the header.
reach_tinyproxy_start() {
	local auth="" hosts="" ports=() conf dir pre=() p try
	while [ $# -gt 0 ]; do
		case $1 in
		--auth) auth="$2 $3"; shift 3 ;;
		--connect-port) ports+=("$2"); shift 2 ;;
		--hosts) hosts=$2; shift 2 ;;
		*) fail "reach_tinyproxy_start: unknown option '$1'" ;;
		esac
	done
	dir=$T/tinyproxy.$((${#_reach_pids[@]}))
	mkdir -p "$dir"
	conf=$dir/tinyproxy.conf
	TP_LOG=$dir/tinyproxy.log
	for try in 1 2 3 4 5; do
		TP_PORT=$(_dc_free_port)
		{
			printf 'Port %s\nListen 127.0.0.1\nTimeout 60\n' "$TP_PORT"
			printf 'Allow 127.0.0.1\nMaxClients 20\nLogLevel Info\n'
			if [ "$(id -u)" -eq 0 ]; then
				printf 'User nobody\nGroup nogroup\n'
			fi
			for p in "${ports[@]}"; do
				printf 'ConnectPort %s\n' "$p"
			done
			[ -z "$auth" ] || printf 'BasicAuth %s\n' "$auth"
		} >"$conf"
		pre=()
		[ -n "$hosts" ] && pre=(env "LD_PRELOAD=$(reach_shim)" "PF_HOSTS=$hosts")
		"${pre[@]}" tinyproxy -d -c "$conf" </dev/null >"$TP_LOG" 2>&1 &
		TP_PID=$!
		_reach_pids+=("$TP_PID")
		if _reach_wait_port "$TP_PID" "$TP_PORT"; then
			export TP_PORT TP_PID TP_LOG
			return 0
		fi
		reach_stop "$TP_PID"
		grep -q 'in use' "$TP_LOG" || break
	done
	cat "$TP_LOG" >&2
	fail "tinyproxy did not start"
}

# reach_fake_start MODE [ARG] [--target HOST:PORT]: start fakeproxy.py.
reach_fake_start() {
	local mode=$1 arg=0 pf
	shift
	if [ $# -gt 0 ] && [ "$1" != --target ]; then
		arg=$1
		shift
	fi
	pf=$T/fake.port.${#_reach_pids[@]}
	FAKE_LOG=$T/fake.log.${#_reach_pids[@]}
	python3 "$PF_LIB/fakeproxy.py" --portfile "$pf" --mode "$mode" \
	    --arg "$arg" --log "$FAKE_LOG" "$@" </dev/null \
	    >>"$T/fake.out" 2>&1 &
	FAKE_PID=$!
	_reach_pids+=("$FAKE_PID")
	for _ in $(seq 1 100); do
		[ -s "$pf" ] && break
		kill -0 "$FAKE_PID" 2>/dev/null || fail "fakeproxy.py died"
		sleep 0.05
	done
	[ -s "$pf" ] || fail "fakeproxy.py did not start"
	FAKE_PORT=$(cat "$pf")
}

# reach_stop PID: stop one process we started.
reach_stop() {
	kill "$1" 2>/dev/null
	for _ in $(seq 1 50); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}

# reach_pids_of RE: pids whose command line matches RE (extended).
reach_pids_of() {
	pgrep -f -- "$1" || true
}

# assert_one_line NAME: the run's stderr is one line.
assert_one_line() {
	local n
	n=$(wc -l <"$T/$1.err")
	if [ "$n" -ne 1 ]; then
		show "$1"
		fail "run '$1' wrote $n lines to stderr, expected one"
	fi
}

# assert_no_text TEXT FILE...: TEXT appears in none of the files.
assert_no_text() {
	local text=$1 f
	shift
	for f in "$@"; do
		if [ -f "$f" ] && grep -qF -- "$text" "$f"; then
			fail "a secret appears in '$(basename "$f")'"
		fi
	done
}

# assert_proc_clean PID TEXT...: no TEXT in the process's cmdline/environ.
assert_proc_clean() {
	local pid=$1 t f
	shift
	for f in cmdline environ; do
		[ -r "/proc/$pid/$f" ] || continue
		for t in "$@"; do
			if tr '\0' '\n' 2>/dev/null <"/proc/$pid/$f" |
			    grep -qF -- "$t"; then
				fail "a secret appears in /proc/$pid/$f"
			fi
		done
	done
}
