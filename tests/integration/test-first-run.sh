#!/bin/bash
# The first run of a user coming from mpop or fetchmail (issue 13, the
# parts in the command line and the config file), against a real Dovecot:
#  - "--password SECRET" (and --passwd, --pass=) exits 64 without running
#    SECRET as a command and without showing it; abbreviated options are
#    refused;
#  - mpop's "account bob : alice" with bob's own "password" uses bob's
#    password, not alice's inherited password_command; bob's mbox
#    replaces alice's Maildir;
#  - two accounts on one mailbox, one deleting: a warning on a terminal
#    or at -v, silence under cron;
#  - --show-config shows the settings in effect with their origin, the
#    password masked;
#  - one summary line per account at -v;
#  - delete_after without keep: 64 on the command line, 78 in the file;
#  - mpop keys and fetchmail's %T get the popfetch way, exit 78.
. "$(dirname "$0")/../lib/common.sh"
pf_init
pf_server
pf_mailgen --count 4 --plain --seed 131
mkdir -p "$T/home"
export HOME=$T/home
unset XDG_CONFIG_HOME XDG_STATE_HOME

# 1. --password: refused before anything runs or is shown.
secret=S3cret-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
i=0
for form in "--password" "--password=" "--passwd" "--passwd=" "--pass=" \
    "--passw"; do
	i=$((i + 1))
	if [ "${form%=}" = "$form" ]; then
		args=("$form" "touch $T/ran$i; echo $secret")
	else
		args=("$form""touch $T/ran$i; echo $secret")
	fi
	pf_run_raw pw$i --host localhost --port "$DC_POP3S_PORT" \
	    --user "$DC_USER" --ca-file "$DC_CA" --state-dir "$T/state" \
	    --maildir "$T/never" "${args[@]}"
	assert_rc pw$i 64
	[ ! -e "$T/ran$i" ] || fail "'$form VALUE' ran VALUE as a command"
	if grep -qF -- "$secret" "$T/pw$i.out" "$T/pw$i.err" ||
	    grep -qF -- "touch" "$T/pw$i.err"; then
		show pw$i
		fail "'$form VALUE' shows the value"
	fi
	grep -q 'password is never taken from the command line' \
	    "$T/pw$i.err" || { show pw$i; fail "'$form': no explanation"; }
done
pf_run_raw abbrev --host localhost --port "$DC_POP3S_PORT" \
    --user "$DC_USER" --password-comm "cat $DC_PASS_FILE" \
    --ca-file "$DC_CA" --state-dir "$T/state" --maildir "$T/never"
assert_rc abbrev 64
grep -q "cannot be abbreviated: did you mean '--password-command'" \
    "$T/abbrev.err" || { show abbrev; fail "no abbreviation message"; }
[ ! -e "$T/never" ] || fail "a refused command line delivered mail"
[ "$(dovecot_login_attempts)" -eq 0 ] ||
    fail "a refused command line connected to the server"

# 2. The most specific setting wins: bob's password beats alice's
# password_command, bob's mbox beats alice's Maildir.
cat >"$T/rc" <<EOF
defaults
  keep on
  ca_file $DC_CA
  state_dir $T/state
account alice
  host localhost
  port $DC_POP3S_PORT
  user $DC_USER
  password_command echo wrong-password
  maildir $T/alice
account bob : alice
  password $DC_PASS
  mbox $T/bob.mbox
EOF
chmod 600 "$T/rc"
pf_run_raw bob -C "$T/rc" bob
assert_rc bob 0
assert_empty "$T/bob.err" "stderr of 'popfetch bob' under cron"
[ "$(grep -c '^From ' "$T/bob.mbox" 2>/dev/null)" -eq 4 ] ||
    fail "bob did not deliver the 4 messages into its own mbox"
[ ! -e "$T/alice" ] || fail "bob delivered into alice's Maildir"
assert_no_secret "$T/bob.out" "$T/bob.err"

# 3. Two accounts on one mailbox where one deletes: said at -v (and on a
# terminal), not under cron. 4. One summary line per account at -v.
sed -i 's/^  keep on$/  keep off/' "$T/rc"
# (carol has a state dir of her own; the state is per account anyway)
printf 'account carol : alice\n  keep on\n  password %s\n  maildir %s\n  state_dir %s\n' \
    "$DC_PASS" "$T/carol" "$T/state-carol" >>"$T/rc"
pf_run_raw carolv -C "$T/rc" -v carol
assert_rc carolv 0
grep -q "^popfetch: warning: accounts 'alice' and 'bob' read the same mailbox ($DC_USER@localhost:$DC_POP3S_PORT) and both delete" \
    "$T/carolv.err" || { show carolv; fail "no warning about alice and bob"; }
grep -q "^popfetch: warning: accounts 'alice' and 'carol' read the same mailbox .* and 'alice' deletes: 'carol' gets only what 'alice' leaves on the server" \
    "$T/carolv.err" || { show carolv; fail "no warning about alice and carol"; }
grep -qE "^popfetch: carol: 4 new, 4 delivered, 0 deleted, 4 left, [0-9.]+ [KM]?i?B, [0-9.]+ s\$" \
    "$T/carolv.err" || { show carolv; fail "no summary line at -v"; }
pf_run_raw carol -C "$T/rc" carol
assert_rc carol 0
assert_empty "$T/carol.err" "stderr of a cron run with two accounts on one mailbox"

# 5. --show-config: the settings in effect, where each comes from, the
# password masked; stdout only, exit 0, nothing fetched.
pf_run_raw show -C "$T/rc" --show-config --timeout 9 bob
assert_rc show 0
for want in "^# account bob ($T/rc:11)\$" \
    "^host localhost  # $T/rc:6\$" \
    "^password \\*\\*\\*\\*\\*\\*\\*\\*  # $T/rc:12\$" \
    "^mbox $T/bob.mbox  # $T/rc:13\$" \
    "^timeout 9  # command line\$" \
    "^tls on  # default\$" \
    "^keep off  # $T/rc:2\$"; do
	grep -q -- "$want" "$T/show.out" ||
	    { show show; fail "--show-config lacks a line like '$want'"; }
done
grep -q '^maildir\|^password_command' "$T/show.out" &&
    { show show; fail "--show-config shows keys that bob's own replaced"; }
assert_no_secret "$T/show.out" "$T/show.err"
[ "$(dovecot_count_messages)" -eq 4 ] || fail "--show-config changed the server"

# 6. delete_after without keep: an error, not ignored.
pf_run da-cli --maildir "$T/da" --delete-after 3
assert_rc da-cli 64
grep -q -- '--delete-after works only with --keep' "$T/da-cli.err" ||
    { show da-cli; fail "no explanation for --delete-after without --keep"; }
printf 'account dave : alice\n  delete_after 7\n' >>"$T/rc"
line=$(wc -l <"$T/rc")
for how in dave -a; do
	pf_run_raw "da-$how" -C "$T/rc" "$how"
	assert_rc "da-$how" 78
	grep -q "$T/rc:$line: delete_after: works only with keep on" \
	    "$T/da-$how.err" ||
	    { show "da-$how"; fail "no file:line for delete_after"; }
done
[ ! -e "$T/da" ] || fail "a run refused for delete_after delivered mail"
[ "$(dovecot_count_messages)" -eq 4 ] || fail "a refused run deleted mail"

# 7. mpop and fetchmail habits get the popfetch way.
habit() {
	local name=$1 line=$2 want=$3
	printf 'account a\n  host localhost\n%s\n' "$line" >"$T/$name.rc"
	pf_run_raw "$name" -C "$T/$name.rc" -n
	assert_rc "$name" 78
	grep -qF -- "$T/$name.rc:3: " "$T/$name.err" &&
	    grep -qF -- "$want" "$T/$name.err" ||
	    { show "$name"; fail "$name: the error does not say '$want'"; }
}
habit mpop-stls '  tls_starttls on' "write 'tls starttls'"
habit mpop-eval '  passwordeval pass show mail' "write 'password_command pass show mail'"
habit mpop-deliv '  delivery maildir ~/Mail' "write 'maildir ~/Mail'"
habit mpop-trust '  tls_trust_file /etc/ca.pem' "write 'ca_file /etc/ca.pem'"
habit mpop-dflt 'account default : a' "popfetch writes 'default a'"
habit fm-T '  mda procmail -d %T' "'%T' is fetchmail's recipient"
pass
