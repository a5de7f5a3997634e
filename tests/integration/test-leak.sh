#!/bin/bash
# The password never leaks: with it coming from --password-command, from a
# `password` key in a 0600 config file and from ~/.netrc, a -vv run with
# USER/PASS, AUTH PLAIN, AUTH LOGIN and SCRAM leaves no trace of it (nor
# of its base64 SASL encodings, nor "PASS <password>") in stdout, stderr,
# the state dir or the Maildir, and the trace shows the masked forms.
# While a run is stalled (a slow proxy and a slow MDA), /proc/PID/cmdline
# and /proc/PID/environ of popfetch and of the MDA hold no password.
. "$(dirname "$0")/../lib/common.sh"
pf_init
pf_server
pf_mailgen --count 3 --plain --seed 71
# dovecot.sh exports the password as DC_PASS: popfetch must not inherit
# it, or /proc/PID/environ would "leak" what the test itself put there.
export -n DC_PASS

# Every form the password could leak in, one per line, in $T/secrets.
python3 - "$DC_USER" "$DC_PASS" >"$T/secrets" <<'EOF' || fail "python3"
import base64, sys
u, p = sys.argv[1].encode(), sys.argv[2].encode()
forms = [p, b"PASS " + p, base64.b64encode(b"\0" + u + b"\0" + p),
         base64.b64encode(u + b"\0" + u + b"\0" + p), base64.b64encode(p)]
for f in forms:
    print(f.decode())
EOF
[ "$(wc -l <"$T/secrets")" -eq 5 ] || fail "cannot build the secret forms"

# no_leak WHAT PATH...: none of the forms in any file under PATH.
no_leak() {
	local what=$1 hit
	shift
	hit=$(grep -rlaF -f "$T/secrets" -- "$@" 2>/dev/null)
	if [ -n "$hit" ]; then
		fail "$what: the password (or an encoding of it) is in: $hit"
	fi
	return 0
}

# masked NAME MECH: the -vv trace shows the masked login command.
masked() {
	local want
	case $2 in
	user) want='> PASS \*$' ;;
	plain) want='> AUTH PLAIN( \*)?$' ;;
	login) want='> AUTH LOGIN$' ;;
	scram-sha-256) want='> AUTH SCRAM-SHA-256 ' ;;
	esac
	grep -qE -- "$want" "$T/$1.err" ||
	    { show "$1"; fail "$1: the trace lacks the masked '$want'"; }
	if [ "$2" = plain ] && ! grep -qE '> (AUTH PLAIN )?\*$' "$T/$1.err"
	then
		show "$1"
		fail "$1: the PLAIN response is not masked as '*'"
	fi
}

mechs="user plain login scram-sha-256"

# 1. --password-command.
for m in $mechs; do
	pf_run "cmd-$m" -vv --keep --all --auth "$m" --maildir "$T/mail"
	assert_rc "cmd-$m" 0
	masked "cmd-$m" "$m"
	no_leak "--password-command --auth $m" "$T/cmd-$m.out" "$T/cmd-$m.err"
done

# 2. A `password` key in a 0600 config file.
for m in $mechs; do
	cat >"$T/config-$m" <<EOF
# test config
account leak
  host localhost
  port $DC_POP3S_PORT
  user $DC_USER
  password $DC_PASS
  ca_file $DC_CA
  auth $m
  keep on
  all on
  state_dir $T/state
  maildir $T/mail
  timeout 30
EOF
	chmod 600 "$T/config-$m"
	pf_run_raw "conf-$m" -vv -C "$T/config-$m" leak
	assert_rc "conf-$m" 0
	masked "conf-$m" "$m"
	no_leak "config password --auth $m" "$T/conf-$m.out" "$T/conf-$m.err"
done
# A group-readable one is refused, and the refusal does not quote it.
chmod 640 "$T/config-user"
pf_run_raw conf-open -C "$T/config-user" leak
assert_rc conf-open 78
no_leak "refused config" "$T/conf-open.out" "$T/conf-open.err"
chmod 600 "$T/config-user"

# 3. ~/.netrc (HOME in the temp dir; no password command at all).
mkdir -p "$T/home"
printf 'machine localhost login %s password %s\n' "$DC_USER" "$DC_PASS" \
    >"$T/home/.netrc"
chmod 600 "$T/home/.netrc"
for m in $mechs; do
	HOME=$T/home XDG_CONFIG_HOME=$T/home/.config pf_run_raw "netrc-$m" \
	    -vv --host localhost --port "$DC_POP3S_PORT" --user "$DC_USER" \
	    --ca-file "$DC_CA" --state-dir "$T/state" --timeout 30 \
	    --keep --all --auth "$m" --maildir "$T/mail"
	assert_rc "netrc-$m" 0
	masked "netrc-$m" "$m"
	no_leak "netrc, --auth $m" "$T/netrc-$m.out" "$T/netrc-$m.err"
done

# A deleting run too, so the state holds delivered-and-deleted records.
pf_run delete -vv --maildir "$T/mail"
assert_rc delete 0
[ "$(dovecot_count_messages)" -eq 0 ] || fail "the deleting run left mail"
[ -n "$(ls -A "$T/state" 2>/dev/null)" ] || fail "no state was written"
no_leak "the state dir" "$T/state"
no_leak "the Maildir" "$T/mail"
no_leak "the delete run" "$T/delete.out" "$T/delete.err"

# 4. /proc while running: a slow link and an MDA that takes its time and
# copies its own (and its parent's) cmdline and environ.
pf_mailgen --count 3 --plain --seed 72 --start 100
mkdir -p "$T/proc"
cat >"$T/mda.sh" <<EOF
#!/bin/sh
for p in \$\$ \$PPID; do
	cat /proc/\$p/cmdline >"$T/proc/mda-cmdline.\$\$.\$p" 2>/dev/null
	cat /proc/\$p/environ >"$T/proc/mda-environ.\$\$.\$p" 2>/dev/null
done
sleep 1
cat >/dev/null
EOF
chmod 755 "$T/mda.sh"
proxy_start --delay-ms 150
"$POPFETCH" -vv --host localhost --port "$PROXY_PORT" \
    --user "$DC_USER" --password-command "cat $DC_PASS_FILE" \
    --ca-file "$DC_CA" --state-dir "$T/state" --timeout 30 \
    --mda "$T/mda.sh" </dev/null >"$T/bg.out" 2>"$T/bg.err" &
pid=$!
samples=0
while kill -0 "$pid" 2>/dev/null; do
	if cat "/proc/$pid/cmdline" >"$T/proc/pf-cmdline.$samples" 2>/dev/null &&
	    cat "/proc/$pid/environ" >"$T/proc/pf-environ.$samples" 2>/dev/null
	then
		samples=$((samples + 1))
	fi
	# The password command and the MDA shells are children of popfetch.
	for c in $(cat "/proc/$pid/task/$pid/children" 2>/dev/null); do
		cat "/proc/$c/cmdline" >"$T/proc/child-cmdline.$c.$samples" \
		    2>/dev/null
		cat "/proc/$c/environ" >"$T/proc/child-environ.$c.$samples" \
		    2>/dev/null
	done
	sleep 0.1
done
wait "$pid"
rc=$?
proxy_stop
[ "$rc" -eq 0 ] || { cat "$T/bg.err" >&2; fail "the stalled run exited $rc"; }
[ "$samples" -ge 5 ] || fail "only $samples samples of /proc/$pid taken"
n=$(find "$T/proc" -name 'mda-environ.*' | wc -l)
[ "$n" -ge 3 ] || fail "the MDA ran $n times, expected at least 3 (1 per message)"
# (The first sample may predate the exec and show the test's shell.)
cat "$T/proc"/pf-cmdline.* | grep -qa -- '--password-command' ||
    fail "no /proc cmdline sample is popfetch's"
no_leak "/proc of popfetch and its MDA" "$T/proc"
no_leak "the stalled run" "$T/bg.out" "$T/bg.err"
note "$samples samples of popfetch's /proc, $n MDA runs: no password"
pass
