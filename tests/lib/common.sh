# common.sh: shared helpers for tests/integration/test-*.sh (source it).
#
# Environment (ctest sets all three):
#   POPFETCH     the binary under test (default: $PF_BUILDDIR/popfetch)
#   PF_SRCDIR    the repository root (default: found from this file)
#   PF_BUILDDIR  the build tree (default: $PF_SRCDIR/build)
#   PF_KEEP_TMP=1  keep the test's temp dir even when it passes
#
# After pf_init, T is the test's own temp dir; the EXIT trap stops the
# Dovecot and the proxies it started (by pid) and removes T (kept, with
# its path printed, when the test failed).
#
#   pf_init [--no-binary]        temp dir, trap, checks; call first
#   pf_server [dovecot_start options]   start Dovecot in $T/dc
#   pf_mailgen [mailgen.py options]     fill the server Maildir; the
#                                manifest is $T/manifest.json
#   pf_run NAME [popfetch args]  run popfetch against the server with the
#                                usual options (implicit TLS, test CA,
#                                password command, state dir $T/state,
#                                --timeout 30), stdin /dev/null, output in
#                                $T/NAME.out and $T/NAME.err; sets PF_RC
#                                and PF_SECS (wall time, seconds, float)
#   pf_run_raw NAME ARGS...      the same without any default option
#   proxy_start [faultproxy options]   sets PROXY_PORT, PROXY_PID
#   proxy_stop
#   fail MSG / pass / note MSG
#   assert_rc NAME WANT          PF_RC must be WANT
#   assert_empty FILE WHAT       FILE must be empty
#   assert_no_secret FILE...     the test password appears in none
#   verify ARGS...               run verify.py with the manifest

set -uo pipefail

PF_SRCDIR=${PF_SRCDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
PF_BUILDDIR=${PF_BUILDDIR:-$PF_SRCDIR/build}
POPFETCH=${POPFETCH:-$PF_BUILDDIR/popfetch}
PF_LIB=$PF_SRCDIR/tests/lib
export PF_LIB
PF_TEST=$(basename "$0" .sh)
export PF_SRCDIR PF_BUILDDIR POPFETCH

# shellcheck source=dovecot.sh
. "$PF_LIB/dovecot.sh"

_pf_failed=0
_pf_proxies=()

# note MSG: progress output (ctest shows it on failure).
note() {
	printf '%s: %s\n' "$PF_TEST" "$*"
}

# fail MSG: report and exit non-zero (the trap cleans up).
fail() {
	printf '%s: FAIL: %s\n' "$PF_TEST" "$*" >&2
	_pf_failed=1
	exit 1
}

# pass: report success and exit 0.
pass() {
	printf '%s: PASS\n' "$PF_TEST"
	exit 0
}

# _pf_cleanup: stop what we started; remove the temp dir unless failed.
_pf_cleanup() {
	local rc=$? p
	for p in "${_pf_proxies[@]}"; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	dovecot_stop
	if [ -n "${T:-}" ] && [ -d "$T" ]; then
		if [ "$rc" -ne 0 ] || [ "$_pf_failed" -ne 0 ] ||
		    [ "${PF_KEEP_TMP:-0}" = 1 ]; then
			printf '%s: files kept in %s\n' "$PF_TEST" "$T" >&2
		else
			rm -rf "$T"
		fi
	fi
}

# pf_init: create the temp dir, install the trap, check the binary.
pf_init() {
	T=$(mktemp -d "${TMPDIR:-/tmp}/pft.XXXXXX") || exit 1
	export T
	# Dovecot's unprivileged processes must reach the files inside.
	[ "$(id -u)" -ne 0 ] || chmod 0755 "$T"
	trap _pf_cleanup EXIT
	trap 'exit 130' INT TERM
	if [ "${1:-}" != --no-binary ] && [ ! -x "$POPFETCH" ]; then
		fail "no popfetch binary at '$POPFETCH' (set POPFETCH)"
	fi
	for tool in dovecot python3 openssl; do
		command -v "$tool" >/dev/null ||
		    fail "'$tool' is not installed (scripts/test installs it)"
	done
}

# pf_server [options]: start Dovecot in $T/dc.
pf_server() {
	dovecot_start "$T/dc" "$@" || fail "cannot start dovecot"
}

# pf_mailgen [options]: write a corpus into the server Maildir.
pf_mailgen() {
	python3 "$PF_LIB/mailgen.py" --maildir "$DC_MAILDIR" \
	    --manifest "$T/manifest.json" "$@" || fail "mailgen.py failed"
	dovecot_chown
	PF_NMSG=$(python3 -c 'import json, sys
print(len(json.load(open(sys.argv[1]))["messages"]))' "$T/manifest.json")
}

# pf_run_raw NAME ARGS...: run popfetch with exactly ARGS, no terminal.
pf_run_raw() {
	local name=$1 t0 t1
	shift
	t0=$(date +%s.%N)
	timeout -k 5 600 "$POPFETCH" "$@" </dev/null >"$T/$name.out" \
	    2>"$T/$name.err"
	PF_RC=$?
	t1=$(date +%s.%N)
	PF_SECS=$(awk "BEGIN { printf \"%.2f\", $t1 - $t0 }")
	note "popfetch $* -> exit $PF_RC in ${PF_SECS}s"
}

# pf_run NAME [ARGS...]: popfetch against the test server, usual options.
pf_run() {
	local name=$1
	shift
	pf_run_raw "$name" --host "${PF_HOST:-localhost}" \
	    --port "${PF_PORT:-$DC_POP3S_PORT}" --user "$DC_USER" \
	    --password-command "cat $DC_PASS_FILE" --ca-file "$DC_CA" \
	    --state-dir "$T/state" --timeout "${PF_TIMEOUT:-30}" "$@"
}

# show NAME: print a run's output (for failure messages).
show() {
	local f
	for f in "$T/$1.out" "$T/$1.err"; do
		if [ -s "$f" ]; then
			printf -- '--- %s\n' "$(basename "$f")" >&2
			head -c 4000 "$f" >&2
		fi
	done
}

# assert_rc NAME WANT: the last run must have exited WANT.
assert_rc() {
	if [ "$PF_RC" -ne "$2" ]; then
		show "$1"
		fail "run '$1' exited $PF_RC, expected $2"
	fi
}

# assert_empty FILE WHAT: FILE must be empty.
assert_empty() {
	if [ -s "$1" ]; then
		head -c 4000 "$1" >&2
		fail "$2 is not empty"
	fi
}

# assert_no_secret FILE...: the password must not appear in the files.
assert_no_secret() {
	local f
	for f in "$@"; do
		if [ -f "$f" ] && grep -qF -- "$DC_PASS" "$f"; then
			fail "the password appears in '$(basename "$f")'"
		fi
	done
}

# verify ARGS...: run verify.py against the manifest.
verify() {
	python3 "$PF_LIB/verify.py" --manifest "$T/manifest.json" "$@"
}

# proxy_start [options]: start faultproxy.py towards the POP3S port
# (--target may be given to override); sets PROXY_PORT and PROXY_PID.
proxy_start() {
	local pf="$T/proxy.port.${#_pf_proxies[@]}" target=""
	case " $* " in
	*" --target "*) ;;
	*) target="--target 127.0.0.1:$DC_POP3S_PORT" ;;
	esac
	rm -f "$pf"
	# shellcheck disable=SC2086
	python3 "$PF_LIB/faultproxy.py" $target --portfile "$pf" "$@" \
	    </dev/null >>"$T/proxy.log" 2>&1 &
	PROXY_PID=$!
	_pf_proxies+=("$PROXY_PID")
	for _ in $(seq 1 100); do
		[ -s "$pf" ] && break
		kill -0 "$PROXY_PID" 2>/dev/null || fail "faultproxy.py died"
		sleep 0.05
	done
	[ -s "$pf" ] || fail "faultproxy.py did not start"
	PROXY_PORT=$(cat "$pf")
}

# proxy_stop: stop the last proxy started.
proxy_stop() {
	kill "$PROXY_PID" 2>/dev/null
	wait "$PROXY_PID" 2>/dev/null
	return 0
}

# maildir_count DIR: messages in a Maildir's new/ and cur/.
maildir_count() {
	find "$1/new" "$1/cur" -maxdepth 1 -type f 2>/dev/null | wc -l
}

# maildir_tmp_count DIR: files left in a Maildir's tmp/.
maildir_tmp_count() {
	find "$1/tmp" -maxdepth 1 -type f 2>/dev/null | wc -l
}
