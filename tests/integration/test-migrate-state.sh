#!/bin/bash
# Switching from mpop, fetchmail or getmail6 with mail kept on the server.
#
# Debian's mpop 1.4.18, fetchmail 6.4.37 and getmail6 6.18 fetch a first
# batch from the test Dovecot in keep mode (TLS with the test CA, password
# from a command, a file or ~/.netrc, delivery to a Maildir), each for two
# accounts (localhost and 127.0.0.1, so their state files hold another
# account too), and so write their real state files. Then new mail
# arrives, and the user switches: popfetch --convert-config converts
# .mpoprc and .fetchmailrc, popfetch --import-state imports each program's
# state (for getmail, into a one-off --host account), and a popfetch run
# in keep mode must deliver exactly the new messages. Bad input is refused
# with the file and line, and imports nothing. Without the import popfetch
# delivers all of them (control).
# Last, an import in delete mode: the next run deletes the old messages
# without downloading them and delivers only the new ones.
. "$(dirname "$0")/../lib/common.sh"
pf_init
for tool in mpop fetchmail getmail procmail; do
	command -v "$tool" >/dev/null ||
	    fail "'$tool' is not installed (scripts/test installs it)"
done
# fetchmail keeps one lock file for all of a user's runs (root's is
# /var/run/fetchmail.pid): this test's own, so that a fetchmail running
# elsewhere on the machine does not stop this one.
fetchmail() {
	command fetchmail --pidfile "$T/fetchmail.pid" "$@"
}
pf_server
pf_mailgen --count 8 --plain --seed 41
cp "$T/manifest.json" "$T/batch1.json"
first=$PF_NMSG

H=$T/home
mkdir -p "$H"
chmod 0755 "$H"
export HOME=$H
unset XDG_CONFIG_HOME XDG_STATE_HOME

# maildir DIR: an empty Maildir.
maildir() {
	mkdir -p "$1/new" "$1/cur" "$1/tmp"
}

# ---- mpop: one UIDLs file for both accounts -------------------------------
maildir "$H/mpop-local"
maildir "$H/mpop-alias"
cat >"$H/.mpoprc" <<EOF
defaults
tls on
tls_starttls off
tls_trust_file $DC_CA
auth user
user $DC_USER
passwordeval "cat $DC_PASS_FILE"
keep on
uidls_file ~/.mpop_uidls/shared

account local
host localhost
port $DC_POP3S_PORT
delivery maildir ~/mpop-local

account alias
host 127.0.0.1
port $DC_POP3S_PORT
delivery maildir ~/mpop-alias
EOF
chmod 600 "$H/.mpoprc"
for acct in local alias; do
	mpop -q "$acct" >"$T/mpop-$acct.log" 2>&1 ||
	    fail "mpop $acct failed: $(cat "$T/mpop-$acct.log")"
done
[ "$(maildir_count "$H/mpop-local")" -eq "$first" ] ||
    fail "mpop did not fetch the first batch"

# ---- fetchmail: ~/.fetchids, password from ~/.netrc -----------------------
# (fetchmail 6.4.37 does not match IP addresses in the certificate: the
# entry for 127.0.0.1 names the certificate's host with sslcommonname)
maildir "$H/fm-local"
maildir "$H/fm-alias"
printf 'MAILDIR=%s/\nDEFAULT=$MAILDIR\n' "$H/fm-local" >"$H/procmail-local"
printf 'MAILDIR=%s/\nDEFAULT=$MAILDIR\n' "$H/fm-alias" >"$H/procmail-alias"
cat >"$H/.netrc" <<EOF
machine localhost login $DC_USER password $DC_PASS
machine 127.0.0.1 login $DC_USER password $DC_PASS
EOF
chmod 600 "$H/.netrc"
cat >"$H/.fetchmailrc" <<EOF
set no bouncemail
poll localhost with proto POP3 service $DC_POP3S_PORT uidl
    user "$DC_USER" there is "$(id -un)" here
    options keep ssl sslcertck sslcertfile "$DC_CA"
    mda "/usr/bin/procmail -m $H/procmail-local"
poll alias via 127.0.0.1 with proto POP3 service $DC_POP3S_PORT uidl
    user "$DC_USER" there is "$(id -un)" here
    options keep ssl sslcertck sslcertfile "$DC_CA"
    sslcommonname localhost
    mda "/usr/bin/procmail -m $H/procmail-alias"
EOF
chmod 600 "$H/.fetchmailrc"
fetchmail -N --nosyslog >"$T/fetchmail.log" 2>&1 ||
    fail "fetchmail failed: $(cat "$T/fetchmail.log")"
[ "$(maildir_count "$H/fm-local")" -eq "$first" ] ||
    fail "fetchmail did not fetch the first batch"

# ---- getmail6: one oldmail file per server, port and user -----------------
mkdir -p "$H/.getmail"
maildir "$H/gm-local"
maildir "$H/gm-alias"
gm_user=""
if [ "$(id -u)" -eq 0 ]; then
	# getmail6 refuses to deliver as root
	gm_user="user = $DC_MAILUSER"
	chown -R "$DC_MAILUSER" "$H/gm-local" "$H/gm-alias"
fi
for acct in local alias; do
	server=localhost
	[ "$acct" = alias ] && server=127.0.0.1
	cat >"$H/.getmail/rc-$acct" <<EOF
[retriever]
type = SimplePOP3SSLRetriever
server = $server
port = $DC_POP3S_PORT
username = $DC_USER
password_command = ("/bin/cat", "$DC_PASS_FILE")
ca_certs = $DC_CA

[destination]
type = Maildir
path = $H/gm-$acct/
$gm_user

[options]
delete = false
read_all = false
verbose = 0
EOF
	getmail --getmaildir="$H/.getmail" --rcfile="rc-$acct" \
	    >"$T/getmail-$acct.log" 2>&1 ||
	    fail "getmail $acct failed: $(cat "$T/getmail-$acct.log")"
done
[ "$(maildir_count "$H/gm-local")" -eq "$first" ] ||
    fail "getmail did not fetch the first batch"

# The files the programs wrote, as they wrote them.
mp=$H/.mpop_uidls/shared
fm=$H/.fetchids
gm=$H/.getmail/oldmail-localhost-$DC_POP3S_PORT-$DC_USER
for f in "$mp" "$fm" "$gm" "$H/.getmail/oldmail-127.0.0.1-$DC_POP3S_PORT-$DC_USER"; do
	[ -s "$f" ] || fail "no state file '$f'"
done
grep -q "^ $first localhost $DC_USER\$" "$mp" ||
    fail "mpop's file lacks the list of localhost: $(cat "$mp")"
grep -q "^ $first 127.0.0.1 $DC_USER\$" "$mp" ||
    fail "mpop's file lacks the list of 127.0.0.1"
[ "$(grep -c "^$DC_USER@localhost " "$fm")" -eq "$first" ] ||
    fail "fetchids lacks the UIDs of localhost: $(cat "$fm")"
[ "$(grep -c "^$DC_USER@127.0.0.1 " "$fm")" -eq "$first" ] ||
    fail "fetchids lacks the UIDs of 127.0.0.1"
[ "$(tr -cd '\000' <"$gm" | wc -c)" -eq "$first" ] ||
    fail "getmail's oldmail file has not $first UID<NUL>TIME lines"

# ---- new mail arrives ------------------------------------------------------
pf_mailgen --count 5 --plain --seed 42 --start 101
cp "$T/manifest.json" "$T/batch2.json"
second=$PF_NMSG

# import NAME FORMAT:PATH WANT [OPTION...]: popfetch --import-state into
# $T/state-NAME for the account the options name; the counts must be WANT.
import() {
	local name=$1 spec=$2 want=$3 out
	shift 3
	mkdir -p "$T/state-${name%-again}"
	chmod 700 "$T/state-${name%-again}"
	pf_run_raw "import-$name" --import-state="$spec" \
	    --state-dir "$T/state-${name%-again}" "$@"
	assert_rc "import-$name" 0
	out=$(cat "$T/import-$name.out")
	case $out in
	"$want") ;;
	*) fail "import of $spec: got '$out', want '$want'" ;;
	esac
}

# fetch NAME [OPTION...]: popfetch into $T/pf-NAME with the state of NAME.
fetch() {
	local name=$1
	shift
	pf_run_raw "fetch-$name" --state-dir "$T/state-$name" --timeout 30 \
	    --maildir "$T/pf-$name" "$@"
	assert_rc "fetch-$name" 0
}

# The one-off account of the test Dovecot (getmail has no converter).
oneoff=(--host localhost --port "$DC_POP3S_PORT" --user "$DC_USER"
    --password-command "cat $DC_PASS_FILE" --ca-file "$DC_CA")

# A user switching from mpop and fetchmail converts the old config, then
# imports the state with it: the account names the mailbox.
for tool in mpop fetchmail; do
	rc=$H/.mpoprc
	[ "$tool" = fetchmail ] && rc=$H/.fetchmailrc
	pf_run_raw "convert-$tool" --convert-config="$tool" "$rc"
	assert_rc "convert-$tool" 0
	cp "$T/convert-$tool.out" "$T/$tool.conv"
	chmod 600 "$T/$tool.conv"
done

others="skipped $first (other accounts: $DC_USER@127.0.0.1)"
import mpop "mpop:$mp" "imported $first, $others, already known 0" \
    -C "$T/mpop.conv" local
import fetchmail "fetchmail:$fm" "imported $first, $others, already known 0" \
    -C "$T/fetchmail.conv" localhost
import getmail "getmail:$H/.getmail" \
    "imported $first, $others, already known 0" "${oneoff[@]}" --keep
# again: everything is known already
import mpop-again "mpop:$mp" "imported 0, $others, already known $first" \
    -C "$T/mpop.conv" local

fetch mpop -C "$T/mpop.conv" local
fetch fetchmail -C "$T/fetchmail.conv" localhost
fetch getmail "${oneoff[@]}" --keep
for tool in mpop fetchmail getmail; do
	python3 "$PF_LIB/verify.py" --manifest "$T/batch2.json" \
	    --maildir "$T/pf-$tool" ||
	    fail "after importing $tool's state, popfetch did not deliver exactly the new messages"
done
n=$(dovecot_count_messages)
[ "$n" -eq $((first + second)) ] ||
    fail "$n messages on the server after the keep runs, want $((first + second))"
# The import wrote the state the run then used (the same identity, see
# import() in src/main.c): one state file, with the old and the new UIDs.
for tool in mpop fetchmail getmail; do
	set -- "$T/state-$tool"/*.state
	[ "$#" -eq 1 ] || fail "$tool: $# state files after import and run: $*"
	python3 "$PF_LIB/state_tool.py" "$1" dump >"$T/state-$tool.dump" ||
	    fail "cannot read the state file of $tool"
	[ "$(grep -c '^K ' "$T/state-$tool.dump")" -eq $((first + second)) ] ||
	    fail "$tool: the state does not hold the imported and the new UIDs: $(cat "$T/state-$tool.dump")"
done

# Bad input: a line cut short, or a file of another format, is an error
# naming the file and line (exit 65), and nothing is imported.
head -c -1 "$fm" >"$T/fetchids-cut"
cut="fetchmail:$T/fetchids-cut|$T/fetchids-cut:$(wc -l <"$fm"):"
for bad in "$cut" "fetchmail:$gm|$gm:1:" "mpop:$fm|$fm:1:"; do
	spec=${bad%%|*}
	mkdir -p "$T/state-bad"
	chmod 700 "$T/state-bad"
	pf_run_raw import-bad --import-state="$spec" \
	    --state-dir "$T/state-bad" "${oneoff[@]}" --keep
	assert_rc import-bad 65
	grep -qF "${bad#*|}" "$T/import-bad.err" ||
	    fail "the error about $spec does not name ${bad#*|}: $(cat "$T/import-bad.err")"
	[ "$(wc -l <"$T/import-bad.err")" -eq 1 ] ||
	    fail "the error about $spec is not one line: $(cat "$T/import-bad.err")"
	assert_empty "$T/import-bad.out" "the output of a failed import"
	[ -z "$(ls "$T"/state-bad/*.state 2>/dev/null)" ] ||
	    fail "a failed import of $spec recorded UIDs"
done

# getmail recorded when it first saw each UID: the import keeps that time.
uid=$(python3 -c 'import sys; print(open(sys.argv[1], "rb").readline().split(b"\0")[0].decode())' "$gm")
when=$(python3 -c 'import sys; print(int(open(sys.argv[1], "rb").readline().split(b"\0")[1]))' "$gm")
sf=$(ls "$T"/state-getmail/*.state)
python3 "$PF_LIB/state_tool.py" "$sf" dump >"$T/state-getmail.dump" ||
    fail "cannot read the state file"
grep -q "^K $uid 0 $when\$" "$T/state-getmail.dump" ||
    fail "the first-seen time of $uid is not getmail's $when"

# Control: without the import, --keep delivers the old messages again.
mkdir -p "$T/state-none"
chmod 700 "$T/state-none"
fetch none "${oneoff[@]}" --keep
python3 "$PF_LIB/verify.py" --manifest "$T/batch1.json" \
    --manifest "$T/batch2.json" --maildir "$T/pf-none" ||
    fail "the control run did not deliver both batches"

# Delete mode: the imported UIDs count as delivered, so the next run
# deletes them without downloading them, and delivers the new ones.
import del "fetchmail:$fm" "imported $first, $others, already known 0" \
    "${oneoff[@]}"
fetch del "${oneoff[@]}"
python3 "$PF_LIB/verify.py" --manifest "$T/batch2.json" \
    --maildir "$T/pf-del" ||
    fail "a delete-mode run after the import delivered old messages"
n=$(dovecot_count_messages)
[ "$n" -eq 0 ] || fail "$n messages left on the server after the delete run"
assert_no_secret "$T"/*.out "$T"/*.err "$T"/state-*/*
pass
