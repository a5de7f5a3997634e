#!/bin/bash
# The config file: errors name the file and line and exit 78 (unknown key,
# bad value, unterminated quote, unknown parent, undefined default, a
# password in a file others can read); "account b : a" inherits a's
# settings and overrides its own; "default NAME" picks the account run
# without one; NAME selects; -a runs every account, -j 2 runs them at the
# same time and --json reports both, and five accounts too; a password
# from the config (0600) and from ~/.netrc work, a 0644 ~/.netrc is
# refused with 78.
# Both accounts use the one Dovecot user with --keep: a and b connect
# through two proxies (two ports, so two account identities and states).
. "$(dirname "$0")/../lib/common.sh"
pf_init
pf_server
pf_mailgen --count 20 --plain --seed 91
# 100 ms each way, so a run takes seconds and -j 2 shows in the time.
proxy_start --delay-ms 100
PA=$PROXY_PORT
proxy_start --delay-ms 100
PB=$PROXY_PORT
mkdir -p "$T/home"
export HOME=$T/home # no ~/.popfetchrc or ~/.netrc of the user's
unset XDG_CONFIG_HOME XDG_STATE_HOME

# Failures that do not stop the rest of the test; reported at the end.
LATER=()

# cfg_err NAME LINE TEXT [ARGS]: run with config $T/NAME.conf (and ARGS),
# expect 78 and one error line naming the file and line LINE and matching
# TEXT.
cfg_err() {
	local name=$1 line=$2 text=$3 where
	shift 3
	chmod 0600 "$T/$name.conf"
	pf_run_raw "$name" -C "$T/$name.conf" "$@"
	assert_rc "$name" 78
	[ "$(wc -l <"$T/$name.err")" -eq 1 ] ||
	    { show "$name"; fail "$name: not one error line"; }
	where="$T/$name.conf:$line"
	if ! grep -qF "$where" "$T/$name.err"; then
		show "$name"
		LATER+=("$name: the error does not name '$where'")
	fi
	grep -qiE "$text" "$T/$name.err" ||
	    { show "$name"; fail "$name: the error does not say '$text'"; }
	note "$name: $(cat "$T/$name.err")"
}

# account_lines PORT MAILDIR: a complete account body (7 lines).
account_lines() {
	printf '  host localhost\n  port %s\n  user %s\n' "$1" "$DC_USER"
	printf '  password_command "cat %s"\n' "$DC_PASS_FILE"
	printf '  ca_file %s\n  state_dir %s\n  maildir %s\n' "$DC_CA" \
	    "$T/state" "$2"
}

# 1. Errors.
printf '# comment\ndefaults\n  keep on\n  frobnicate yes\n' \
    >"$T/unknown-key.conf"
cfg_err unknown-key 4 "unknown key.*frobnicate"
printf 'account a\n  host localhost\n  timeout soon\n' >"$T/bad-value.conf"
cfg_err bad-value 3 "timeout"
printf 'defaults\n  timeout 30\n  keep perhaps\n' >"$T/bad-bool.conf"
cfg_err bad-bool 3 "keep"
printf 'account a\n  host localhost\n  password_command "cat /x\n' \
    >"$T/quote.conf"
cfg_err quote 3 "quot"
{ echo "account a"; account_lines "$PA" "$T/x"; echo "account b : nosuch"
  echo "  maildir $T/y"; } >"$T/parent.conf"
# (checked when the account is resolved: name it, or use -a)
cfg_err parent 9 "nosuch" b
cp "$T/parent.conf" "$T/parent-a.conf"
cfg_err parent-a 9 "nosuch" -a
{ echo "account a"; account_lines "$PA" "$T/x"; echo "default nosuch"; } \
    >"$T/default.conf"
cfg_err default 9 "nosuch"
if [ -e "$T/x" ] || [ -e "$T/y" ]; then
	fail "a run with a config error delivered mail"
fi

# A password in a file that others can read: refused even though the
# file is ours (as root ownership always matches, the mode must bind).
# (its own state dir: it is the same account identity as 'a' below)
{ echo "account p"; account_lines "$PA" "$T/mp" | grep -v password_command |
      sed "s|state_dir .*|state_dir $T/state-p|"
  echo "  password $DC_PASS"; } >"$T/pw.conf"
chmod 0644 "$T/pw.conf"
pf_run_raw pw644 -C "$T/pw.conf"
assert_rc pw644 78
[ "$(wc -l <"$T/pw644.err")" -eq 1 ] || { show pw644; fail "pw644: not one error line"; }
grep -qF "$T/pw.conf" "$T/pw644.err" || { show pw644; fail "pw644: no file name"; }
assert_no_secret "$T/pw644.out" "$T/pw644.err"
[ ! -e "$T/mp" ] || fail "a run with a refused config delivered mail"
chmod 0600 "$T/pw.conf"
pf_run_raw pw600 -C "$T/pw.conf" --keep
assert_rc pw600 0
assert_empty "$T/pw600.err" "stderr with a 0600 config password"
verify --quiet --maildir "$T/mp" || fail "the config password run"

# 2. Inheritance, default, selection.
{ echo "defaults"; echo "  keep on"; echo "  timeout 30"
  echo "account a"; account_lines "$PA" "$T/ma"
  echo "account b : a"; echo "  port $PB"; echo "  maildir $T/mb"
  echo "default b"; } >"$T/main.conf"
chmod 0600 "$T/main.conf"
pf_run_raw dflt -C "$T/main.conf"
assert_rc dflt 0
assert_empty "$T/dflt.err" "stderr of the default account's run"
[ ! -e "$T/ma" ] || fail "'default b' ran account a"
verify --quiet --maildir "$T/mb" ||
    fail "account b (inheriting from a) did not fetch the corpus"
[ "$(dovecot_count_messages)" -eq 20 ] ||
    fail "keep on (from the defaults block) was ignored"

pf_run_raw sel -C "$T/main.conf" a
assert_rc sel 0
assert_empty "$T/sel.err" "stderr of 'popfetch a'"
verify --quiet --maildir "$T/ma" || fail "account a did not fetch the corpus"
[ "$(maildir_count "$T/mb")" -eq 20 ] || fail "selecting a changed b's Maildir"

# newmsg K: one more message on the server, with its own manifest.
newmsg() {
	python3 "$PF_LIB/mailgen.py" --maildir "$DC_MAILDIR" \
	    --manifest "$T/new$1.json" --count 1 --plain --start "$1" \
	    --seed "$1" || fail "mailgen.py failed"
	dovecot_chown
}
# both K...: both Maildirs hold the corpus and new messages K... once.
both() {
	local d k margs=(--manifest "$T/manifest.json")
	for k in "$@"; do margs+=(--manifest "$T/new$k.json"); done
	for d in ma mb; do
		python3 "$PF_LIB/verify.py" --quiet "${margs[@]}" \
		    --maildir "$T/$d" || fail "Maildir $d is not exact"
	done
}

# 3. -a: every account, one after the other.
newmsg 1001
pf_run_raw all -C "$T/main.conf" -a
assert_rc all 0
assert_empty "$T/all.err" "stderr of -a"
both 1001
seq_secs=$PF_SECS

# 4. -j 2: both at the same time; --json reports both.
newmsg 1002
pf_run_raw jobs -C "$T/main.conf" -a -j 2 --json
assert_rc jobs 0
assert_empty "$T/jobs.err" "stderr of -a -j 2"
both 1001 1002
python3 - "$T/jobs.out" <<'PY' || fail "--json does not report both accounts"
import json, sys
doc = json.load(open(sys.argv[1]))
accts = sorted(doc["accounts"], key=lambda a: str(a["account"]))
if [a["account"] for a in accts] != ["a", "b"] or \
        [a["fetched"] for a in accts] != [1, 1]:
    sys.exit("accounts: %r" % accts)
PY
note "-a took ${seq_secs}s, -a -j 2 took ${PF_SECS}s"
awk "BEGIN { exit !($PF_SECS < 0.8 * $seq_secs) }" ||
    fail "-j 2 (${PF_SECS}s) is not faster than one by one (${seq_secs}s)"

# 4b. -j 2 with five accounts, so that a worker runs more than one (which
# of them, and that there are two workers, is for unit test-runner): each
# gets the password its command gave in the parent and fetches it all.
# Five identities: the two proxies, two more and Dovecot itself.
proxy_start
PC=$PROXY_PORT
proxy_start
PD=$PROXY_PORT
{ echo "defaults"; echo "  keep on"; echo "  timeout 30"
  for x in 1:$PA 2:$PB 3:$PC 4:$PD 5:$DC_POP3S_PORT; do
	echo "account j${x%%:*}"; account_lines "${x#*:}" "$T/j${x%%:*}"
  done; } >"$T/jobs5.conf"
chmod 0600 "$T/jobs5.conf"
pf_run_raw jobs5 -C "$T/jobs5.conf" -a -j 2 --json
assert_rc jobs5 0
assert_empty "$T/jobs5.err" "stderr of five accounts with -j 2"
for k in 1 2 3 4 5; do
	verify --quiet --manifest "$T/new1001.json" \
	    --manifest "$T/new1002.json" --maildir "$T/j$k" ||
	    fail "-j 2: account j$k is not exact"
done
python3 - "$T/jobs5.out" <<'PY' || fail "--json does not report five accounts"
import json, sys
doc = json.load(open(sys.argv[1]))
got = sorted((str(a["account"]), a["fetched"]) for a in doc["accounts"])
if got != [("j%d" % k, 22) for k in range(1, 6)]:
    sys.exit("accounts: %r" % got)
PY

# 5. ~/.netrc: used without --password-command; refused when 0644.
printf 'machine localhost\n  login %s\n  password %s\n' "$DC_USER" \
    "$DC_PASS" >"$HOME/.netrc"
chmod 0600 "$HOME/.netrc"
pf_run_raw netrc --host localhost --port "$DC_POP3S_PORT" --user "$DC_USER" \
    --ca-file "$DC_CA" --state-dir "$T/state" --keep --maildir "$T/mn"
assert_rc netrc 0
assert_empty "$T/netrc.err" "stderr with a ~/.netrc password"
verify --quiet --maildir "$T/mn" --manifest "$T/new1001.json" \
    --manifest "$T/new1002.json" || fail "the ~/.netrc run"
chmod 0644 "$HOME/.netrc"
pf_run_raw netrc644 --host localhost --port "$DC_POP3S_PORT" \
    --user "$DC_USER" --ca-file "$DC_CA" --state-dir "$T/state2" --keep \
    --maildir "$T/mn2"
assert_rc netrc644 78
[ "$(wc -l <"$T/netrc644.err")" -eq 1 ] ||
    { show netrc644; fail "netrc644: not one error line"; }
grep -q '^popfetch: .*\.netrc' "$T/netrc644.err" ||
    { show netrc644; fail "the error does not name ~/.netrc"; }
assert_no_secret "$T/netrc644.out" "$T/netrc644.err"
[ "$(maildir_count "$T/mn2")" -eq 0 ] || fail "a refused ~/.netrc run fetched"
[ "$(dovecot_count_messages)" -eq 22 ] || fail "messages left the server"
[ "${#LATER[@]}" -eq 0 ] || fail "$(printf '%s; ' "${LATER[@]}")"
pass
