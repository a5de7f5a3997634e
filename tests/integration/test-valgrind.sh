#!/bin/bash
# Valgrind memcheck over representative sessions (issue 7): TLS fetch of 50
# messages into a Maildir, mbox, MDA, a --keep run and a second --keep run,
# a connection dropped mid-RETR (exit 75), a rejected certificate (exit
# 77), an account from a config file with plain POP3 and USER/PASS, STLS
# with CRAM-MD5 to --stdout, delete mode into an mbox. Each run:
# the expected exit status, zero valgrind errors, no definite or indirect
# leaks.
#
# Valgrind cannot run an Asan binary: when $POPFETCH is one, a Debug tree
# of our own is configured and built in $PF_BUILDDIR/valgrind-build (kept,
# so later runs only rebuild what changed; VALGRIND_BUILDDIR overrides).
. "$(dirname "$0")/../lib/common.sh"
pf_init
command -v valgrind >/dev/null || fail "valgrind is not installed"

pf=$POPFETCH
# (ldd's output is captured first: with pipefail, "ldd | grep -q" fails
# whenever grep stops reading before ldd has finished writing)
libs=$(ldd "$POPFETCH" 2>/dev/null || true)
if printf '%s\n' "$libs" | grep -qE 'libasan|libubsan'; then
	vb=${VALGRIND_BUILDDIR:-$PF_BUILDDIR/valgrind-build}
	note "$POPFETCH is a sanitizer build; using a Debug build in $vb"
	mkdir -p "$vb" || fail "cannot create '$vb'"
	# One build at a time, should two ctest runs share the tree.
	(
		flock 9
		if [ ! -f "$vb/CMakeCache.txt" ]; then
			cmake -S "$PF_SRCDIR" -B "$vb" -DCMAKE_BUILD_TYPE=Debug \
			    -DPOPFETCH_TESTS=OFF >"$vb.log" 2>&1 || exit 1
		fi
		cmake --build "$vb" --target popfetch >>"$vb.log" 2>&1
	) 9>"$vb.lock" || { tail -n 30 "$vb.log" >&2
	    fail "cannot build the Debug popfetch for valgrind"; }
	pf=$vb/popfetch
fi
libs=$(ldd "$pf" 2>/dev/null || true)
printf '%s\n' "$libs" | grep -qE 'libasan|libubsan' &&
    fail "'$pf' is a sanitizer build"
note "valgrind $(valgrind --version) on $pf"

pf_server
pf_mailgen --count 50 --plain --size 500:40000 --seed 77
cp "$T/manifest.json" "$T/manifest1.json"
runs=0

# vg NAME WANT ARGS...: popfetch under memcheck (with pf_run's options
# unless ARGS start with --raw); the exit must be WANT, the log clean.
vg() {
	local name=$1 want=$2 log
	shift 2
	log=$T/vg.$name.log
	if [ "${1:-}" = --raw ]; then
		shift
	else
		set -- --host "${PF_HOST:-localhost}" \
		    --port "${PF_PORT:-$DC_POP3S_PORT}" --user "$DC_USER" \
		    --password-command "cat $DC_PASS_FILE" --ca-file "$DC_CA" \
		    --state-dir "$T/state" --timeout 60 "$@"
	fi
	POPFETCH=valgrind pf_run_raw "$name" --quiet --leak-check=full \
	    --show-leak-kinds=definite,indirect \
	    --errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
	    --track-fds=no --num-callers=30 --log-file="$log" "$pf" "$@"
	runs=$((runs + 1))
	if [ "$PF_RC" -eq 99 ] || grep -qE 'ERROR SUMMARY: [1-9]' "$log" ||
	    grep -qE '(definitely|indirectly) lost: [1-9]' "$log"; then
		head -c 12000 "$log" >&2
		show "$name"
		fail "$name: valgrind found errors or leaks (log above)"
	fi
	[ "$PF_RC" -eq "$want" ] ||
	    { show "$name"; fail "$name: exit $PF_RC, expected $want"; }
}

# 1. TLS, Maildir, 50 messages, keep mode, then a second keep run.
vg keep1 0 --keep --maildir "$T/keep"
verify --maildir "$T/keep" || fail "keep1: wrong delivery"
vg keep2 0 --keep --maildir "$T/keep"
verify --maildir "$T/keep" || fail "keep2: delivered something twice"

# 2. mbox (everything again with --all, kept).
vg mbox 0 --keep --all --mbox "$T/mbox"
verify --mbox "$T/mbox" || fail "mbox: wrong delivery"

# 3. MDA (a shell writing each message to a file).
mkdir -p "$T/mda"
vg mda 0 --keep --all --mda "cat >$T/mda/m.\$\$"
[ "$(find "$T/mda" -type f | wc -l)" -eq 50 ] || fail "mda: not 50 messages"

# 4. A rejected certificate: a CA that did not sign the server's.
vg badcert 77 --raw --host localhost --port "$DC_POP3S_PORT" \
    --user "$DC_USER" --password-command "cat $DC_PASS_FILE" \
    --ca-file "$DC_CERTDIR/selfsigned.pem" --state-dir "$T/state" \
    --timeout 60 --maildir "$T/bad"

# 5. An account from a config file, plain POP3 with USER/PASS, -vv.
cat >"$T/config" <<EOF
account vg
  host 127.0.0.1
  port $DC_POP3_PORT
  user $DC_USER
  password_command cat $DC_PASS_FILE
  tls no
  auth user
  keep on
  all on
  state_dir $T/state
  maildir $T/conf
  timeout 60
EOF
chmod 600 "$T/config"
vg config 0 --raw -vv -C "$T/config" vg
verify --maildir "$T/conf" || fail "config: wrong delivery"

# STLS on the plain port, CRAM-MD5, --stdout.
vg starttls 0 --raw --host localhost --port "$DC_POP3_PORT" \
    --user "$DC_USER" --password-command "cat $DC_PASS_FILE" \
    --ca-file "$DC_CA" --state-dir "$T/state" --timeout 60 --starttls \
    --auth cram-md5 --keep --all --stdout
verify --stream "$T/starttls.out" || fail "starttls: wrong delivery"

# 6. The connection drops in the middle of a RETR body (delete mode).
cut=$(python3 -c 'import json, sys
m = json.load(open(sys.argv[1]))["messages"]
print(sum(x["wire_length"] for x in m[:20]) + m[20]["wire_length"] // 2)' \
    "$T/manifest.json")
proxy_start --cut-after-bytes "$cut" --once
PF_PORT=$PROXY_PORT vg cut 75 --maildir "$T/cut"
verify --maildir "$T/cut" --allow-missing-from-server-dir "$DC_MAILDIR" ||
    fail "cut: partial, lost or duplicated messages"
PF_PORT=$PROXY_PORT vg rest 0 --maildir "$T/cut"
verify --maildir "$T/cut" || fail "rest: not every message exactly once"
[ "$(dovecot_count_messages)" -eq 0 ] || fail "rest: the server is not empty"

# 7. Delete mode with an MDA and an mbox on a fresh batch.
pf_mailgen --count 10 --plain --seed 78 --start 500
vg delete-mbox 0 --mbox "$T/mbox2"
verify --mbox "$T/mbox2" || fail "delete-mbox: wrong delivery"
note "$runs runs under valgrind: no errors, no leaks"
pass
