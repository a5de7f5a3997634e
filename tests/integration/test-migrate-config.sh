#!/bin/bash
# --convert-config on a realistic ~/.mpoprc and ~/.fetchmailrc.
#
# Each file has several accounts against the test Dovecot: inheritance
# (mpop "account X : Y" and "X : Y, Z", two defaults blocks, "account
# default : X"; fetchmail defaults and global options), implicit TLS and
# STARTTLS, passwords from a command, the file and fetchmail's rc, Maildir,
# mbox and MDA delivery, size limits, a source address, a fetchmail
# plugin (a popfetch tunnel), and features popfetch cannot map.
# popfetch --convert-config converts them. Checks, for every account:
#  - the converted file loads, and the effective settings popfetch
#    --show-config shows (and migrate-driver resolve, which compares the
#    password too) are the ones mpop --pretend and fetchmail --configdump
#    report (tests/lib/migrate_compare.py);
#  - the original program and popfetch, with the converted file as it is,
#    fetch the same messages from the same Dovecot into the same target.
. "$(dirname "$0")/../lib/common.sh"
pf_init
for tool in mpop fetchmail procmail; do
	command -v "$tool" >/dev/null ||
	    fail "'$tool' is not installed (scripts/test installs it)"
done
# fetchmail keeps one lock file for all of a user's runs (root's is
# /var/run/fetchmail.pid): this test's own, so that a fetchmail running
# elsewhere on the machine does not stop this one.
fetchmail() {
	command fetchmail --pidfile "$T/fetchmail.pid" "$@"
}
DRIVER=${MIGRATE_DRIVER:-$PF_BUILDDIR/tests/migrate-driver}
[ -x "$DRIVER" ] || fail "no migrate-driver at '$DRIVER'"
pf_server
pf_mailgen --count 9 --plain --big --seed 51

H=$T/home
mkdir -p "$H/bin" "$H/mail" "$H/fm"
chmod 0755 "$H"
export HOME=$H
unset XDG_CONFIG_HOME XDG_STATE_HOME
me=$(id -un)

# An MDA that stores the message and the arguments it was given.
cat >"$H/bin/mda-save" <<'EOF'
#!/bin/sh
# mda-save DIR SENDER TAG
mkdir -p "$1"
cat >"$1/$(date +%s%N)-$$.eml"
printf '%s|%s\n' "$2" "$3" >>"$1/args"
EOF
chmod 755 "$H/bin/mda-save"

# ids TARGET: the X-Mailgen-Id of every message in a Maildir, an mbox or
# a directory of .eml files, sorted.
ids() {
	python3 - "$1" <<'EOF'
import mailbox, os, re, sys
t = sys.argv[1]
raws = []
if os.path.isfile(t):
    raws = [m.as_bytes() for m in mailbox.mbox(t)]
elif os.path.isdir(os.path.join(t, "new")):
    for d in ("new", "cur"):
        for n in os.listdir(os.path.join(t, d)):
            raws.append(open(os.path.join(t, d, n), "rb").read())
elif os.path.isdir(t):
    for n in os.listdir(t):
        if n.endswith(".eml"):
            raws.append(open(os.path.join(t, n), "rb").read())
for i in sorted(re.search(rb"^X-Mailgen-Id: *(\S+)", r, re.M).group(1)
                .decode() for r in raws):
    print(i)
EOF
}

# expected LIMIT: the ids of the corpus, without messages over LIMIT bytes.
expected() {
	python3 - "$T/manifest.json" "$1" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))["messages"]
lim = int(sys.argv[2])
for i in sorted(str(x["id"]) for x in m if lim == 0 or x["length"] <= lim):
    print(i)
EOF
}

# same NAME TARGET LIMIT: the original program's delivery to TARGET (moved
# to $T/orig-NAME) and popfetch's must both be the expected set.
same() {
	ids "$T/orig-$1" >"$T/ids-orig-$1"
	ids "$2" >"$T/ids-pf-$1"
	expected "$3" >"$T/ids-want-$1"
	cmp -s "$T/ids-orig-$1" "$T/ids-want-$1" ||
	    fail "$1: the original program did not fetch the expected messages"
	cmp -s "$T/ids-pf-$1" "$T/ids-want-$1" ||
	    fail "$1: popfetch did not fetch what the original program fetched"
}

# park NAME TARGET: move the original program's delivery out of the way.
park() {
	mv "$2" "$T/orig-$1" || fail "$1: nothing delivered to $2"
}

# convert SOURCE FILE: popfetch --convert-config into $T/SOURCE.conv.
convert() {
	pf_run_raw "convert-$1" --convert-config="$1" "$2"
	assert_rc "convert-$1" 0
	assert_empty "$T/convert-$1.err" "--convert-config's standard error"
	cp "$T/convert-$1.out" "$T/$1.conv"
	chmod 600 "$T/$1.conv"
}

# show SOURCE: popfetch --show-config -a of the converted file into
# $T/SOURCE.show, with a line "- default NAME" for the default account.
show() {
	pf_run_raw "show-$1" -C "$T/$1.conv" --show-config -a
	assert_rc "show-$1" 0
	cp "$T/show-$1.out" "$T/$1.show"
	pf_run_raw "show-default-$1" -C "$T/$1.conv" --show-config
	assert_rc "show-default-$1" 0
	sed -n 's/^# account \([^ ]*\) (.*/- default \1/p' \
	    "$T/show-default-$1.out" >>"$T/$1.show"
}

# pop NAME CONFIG ACCOUNT: popfetch with the converted file.
pop() {
	pf_run_raw "pf-$1" -C "$2" --state-dir "$T/pfstate-$1" "$3"
	assert_rc "pf-$1" 0
}

# ---- mpop ----------------------------------------------------------------
mkdir -p "$H/mail/tlsmail/new" "$H/mail/tlsmail/cur" "$H/mail/tlsmail/tmp"
cat >"$H/.mpoprc" <<EOF
# ~/.mpoprc: three mailboxes on one server, and an archive of them
defaults
tls on
tls_trust_file $DC_CA
timeout 30
keep on
user $DC_USER

# implicit TLS, the password from a command, a Maildir
account tlsmail
host localhost
port $DC_POP3S_PORT
tls_starttls off
passwordeval "cat $DC_PASS_FILE"
auth user
delivery maildir ~/mail/tlsmail
uidls_file ~/.mpop_uidls/tlsmail

# STARTTLS; the password in the file wins over its own passwordeval
account stls : tlsmail
port $DC_POP3_PORT
tls_starttls on
password $DC_PASS
passwordeval "echo not-the-password"
auth plain
delivery mbox ~/mail/stls.mbox
skipsize 1m
received_header off
uidls_file ~/.mpop_uidls/stls

# another address, an MDA (with mpop's '%F' and a literal %), and what
# popfetch cannot map yet
account mda : tlsmail
host 127.0.0.1
source_ip 127.0.0.1
pipelining off
delivery mda "$H/bin/mda-save $H/mail/mda-out '%F' 100%"
only_new off
uidls_file ~/.mpop_uidls/mda

defaults
timeout 45

# two parents: the settings of mda win over those of stls
account archive : stls, mda
killsize 2m
uidls_file ~/.mpop_uidls/archive

account default : tlsmail
uidls_file ~/.mpop_uidls/default
EOF
chmod 600 "$H/.mpoprc"
convert mpop "$H/.mpoprc"
"$DRIVER" resolve "$T/mpop.conv" >"$T/mpop.resolved" 2>&1 ||
    fail "the converted .mpoprc does not load: $(cat "$T/mpop.resolved")"
show mpop
mkdir -p "$T/pretend"
for a in tlsmail stls mda archive default; do
	mpop --pretend "$a" >"$T/pretend/$a" 2>&1 ||
	    fail "mpop --pretend $a: $(cat "$T/pretend/$a")"
done
python3 "$PF_LIB/migrate_compare.py" mpop "$T/mpop.resolved" \
    "$T/pretend" || fail "the converted .mpoprc differs from mpop's view"
python3 "$PF_LIB/migrate_compare.py" mpop --show-config "$T/mpop.show" \
    "$T/pretend" ||
    fail "popfetch --show-config of the converted .mpoprc differs from mpop's view"
grep -q "^  source_address 127.0.0.1$" "$T/mpop.conv" ||
    fail "source_ip is not converted"
grep -q "^account archive : stls$" "$T/mpop.conv" ||
    fail "archive does not keep a parent"

# mpop, then popfetch with the converted file, into the same targets
big=1048576
for a in tlsmail default; do
	mpop -q "$a" || fail "mpop $a failed"
	park "$a" "$H/mail/tlsmail"
	# mpop's account "default" is "mpop-default" in popfetch, which
	# keeps "default" for the line naming the default account
	pa=$a
	[ "$a" = default ] && pa=mpop-default
	pop "$a" "$T/mpop.conv" "$pa"
	same "$a" "$H/mail/tlsmail" 0
	rm -rf "$H/mail/tlsmail"
	mkdir -p "$H/mail/tlsmail/new" "$H/mail/tlsmail/cur" \
	    "$H/mail/tlsmail/tmp"
done
mpop -q stls || fail "mpop stls failed"
park stls "$H/mail/stls.mbox"
pop stls "$T/mpop.conv" stls
same stls "$H/mail/stls.mbox" "$big"
for a in mda archive; do
	lim=0
	[ "$a" = archive ] && lim=$big
	mpop -q "$a" || fail "mpop $a failed"
	park "$a" "$H/mail/mda-out"
	pop "$a" "$T/mpop.conv" "$a"
	same "$a" "$H/mail/mda-out" "$lim"
	sort "$T/orig-$a/args" >"$T/args-orig-$a"
	sort "$H/mail/mda-out/args" >"$T/args-pf-$a"
	cmp -s "$T/args-orig-$a" "$T/args-pf-$a" ||
	    fail "$a: the MDA got other arguments from popfetch than from mpop"
	grep -qv '|100%$' "$T/args-pf-$a" && fail "$a: the literal % changed"
	rm -rf "$H/mail/mda-out"
done

# ---- fetchmail -----------------------------------------------------------
printf 'MAILDIR=%s/\nDEFAULT=$MAILDIR\n' "$H/fm/b" >"$H/fm/procmailrc-b"
mkdir -p "$H/fm/b/new" "$H/fm/b/cur" "$H/fm/b/tmp"
cat >"$H/.fetchmailrc" <<EOF
# ~/.fetchmailrc: the same mailbox three ways, and an IMAP entry
set no bouncemail
set invisible

defaults proto pop3 timeout 30
    options keep sslcertck sslcertfile "$DC_CA"

poll localhost service $DC_POP3S_PORT:
    user "$DC_USER" there with password "$DC_PASS" is "$me" here
    options ssl
    mda "$H/bin/mda-save $H/fm/a %F 100%"

poll stls via localhost service $DC_POP3_PORT auth password
    user "$DC_USER" there with password "$DC_PASS" is "$me" here
    sslproto TLS1.2+ limit 1048576
    mda "/usr/bin/procmail -m $H/fm/procmailrc-b"

poll forward via 127.0.0.1 service $DC_POP3S_PORT
    user "$DC_USER" there with password "$DC_PASS" is "$me" here
    ssl sslcommonname localhost smtphost localhost

poll tunnel via localhost service $DC_POP3S_PORT plugin "socat - TCP:%h:%p"
    user "$DC_USER" there with password "$DC_PASS" is "$me" here
    options ssl
    mda "$H/bin/mda-save $H/fm/c %F tunnel"

poll imapbox via localhost proto IMAP
    user "$DC_USER" there with password "$DC_PASS" is "$me" here
EOF
chmod 600 "$H/.fetchmailrc"
convert fetchmail "$H/.fetchmailrc"
"$DRIVER" resolve "$T/fetchmail.conv" >"$T/fm.resolved" 2>&1 ||
    fail "the converted .fetchmailrc does not load: $(cat "$T/fm.resolved")"
show fetchmail
fetchmail --configdump >"$T/fm.dump" 2>&1 ||
    fail "fetchmail --configdump: $(cat "$T/fm.dump")"
python3 "$PF_LIB/migrate_compare.py" fetchmail "$T/fm.resolved" \
    "$T/fm.dump" || fail "the converted .fetchmailrc differs from fetchmail's view"
python3 "$PF_LIB/migrate_compare.py" fetchmail --show-config \
    "$T/fetchmail.show" "$T/fm.dump" ||
    fail "popfetch --show-config of the converted .fetchmailrc differs from fetchmail's view"
grep -q "^  tunnel socat - TCP:%h:%p$" "$T/fetchmail.conv" ||
    fail "the plugin is not converted to a tunnel"
grep -q "smtp localhost: cannot map yet" "$T/fetchmail.conv" ||
    fail "SMTP forwarding is not reported"
grep -q "^# account imapbox: not converted" "$T/fetchmail.conv" ||
    fail "the IMAP entry is not reported"

fetchmail -N --nosyslog localhost >"$T/fetchmail-a.log" 2>&1 ||
    fail "fetchmail localhost: $(cat "$T/fetchmail-a.log")"
park fm-a "$H/fm/a"
pop fm-a "$T/fetchmail.conv" localhost
same fm-a "$H/fm/a" 0
sort "$T/orig-fm-a/args" >"$T/args-orig-fm-a"
sort "$H/fm/a/args" >"$T/args-pf-fm-a"
cmp -s "$T/args-orig-fm-a" "$T/args-pf-fm-a" ||
    fail "the MDA got other arguments from popfetch than from fetchmail"
fetchmail -N --nosyslog stls >"$T/fetchmail-b.log" 2>&1 ||
    fail "fetchmail stls: $(cat "$T/fetchmail-b.log")"
park fm-b "$H/fm/b"
mkdir -p "$H/fm/b/new" "$H/fm/b/cur" "$H/fm/b/tmp"
pop fm-b "$T/fetchmail.conv" stls
same fm-b "$H/fm/b" "$big"
# fetchmail's plugin and popfetch's tunnel (TLS inside) reach the same
# mailbox
fetchmail -N --nosyslog tunnel >"$T/fetchmail-c.log" 2>&1 ||
    fail "fetchmail tunnel: $(cat "$T/fetchmail-c.log")"
park fm-c "$H/fm/c"
pop fm-c "$T/fetchmail.conv" tunnel
same fm-c "$H/fm/c" 0
# what popfetch cannot do yet, it does not pretend to do
pf_run_raw pf-forward -C "$T/fetchmail.conv" --state-dir "$T/pfstate-fw" forward
assert_rc pf-forward 78
grep -q "no delivery target" "$T/pf-forward.err" ||
    fail "the SMTP-only account fails for another reason"
pass
