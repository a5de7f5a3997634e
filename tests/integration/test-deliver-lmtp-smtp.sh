#!/bin/bash
# popfetch itself delivering to mail servers (docs/delivery-smtp.md):
# Dovecot POP3 -> popfetch --lmtp (Unix socket, then TCP) -> a second
# Dovecot's LMTP, read back with doveadm fetch; and Dovecot POP3 ->
# popfetch --smtp -> Postfix -> Maildir. The nasty corpus must arrive as
# popfetch received it (a --maildir run of the same mailbox is the
# reference) apart from the documented normalisation of each server; a
# run without --keep deletes on the POP3 server exactly what arrived.
. "$(dirname "$0")/../lib/smtp-common.sh"
smtp_init
[ -x "$POPFETCH" ] || fail "no popfetch binary at '$POPFETCH'"
[ "$(id -u)" -eq 0 ] || fail "Postfix needs root (scripts/test runs as root)"

# The destination: a Dovecot with LMTP, in $T/dst.
dovecot_start "$T/dst" --lmtp || fail "cannot start the LMTP dovecot"
DST_DIR=$DC_DIR DST_PID=$DC_PID DST_SOCK=$DC_LMTP_SOCKET
DST_PORT=$DC_LMTP_PORT
# stop_dst: stop the destination Dovecot (dovecot_stop knows one pid).
stop_dst() {
	local keep=$DC_PID
	DC_PID=$DST_PID
	dovecot_stop
	DC_PID=$keep
}
trap '_rc=$?; stop_dst; postfix_stop; (exit $_rc); _pf_cleanup' EXIT
# The source: Dovecot POP3 in $T/src (DC_* from here on).
pf_server --no-ipv6
pf_mailgen --count 120 --big --seed 23 >/dev/null
note "$PF_NMSG messages on the POP3 server"

# run NAME STATE ARGS...: popfetch against the POP3 server.
run() {
	local name=$1 state=$2
	shift 2
	pf_run_raw "$name" --host localhost --port "$DC_POP3S_PORT" \
	    --user "$DC_USER" --password-command "cat $DC_PASS_FILE" \
	    --ca-file "$DC_CA" --state-dir "$T/$state" --timeout 60 \
	    --no-received "$@"
}
# dst_fetch FILE / dst_expunge: the destination mailbox through Dovecot.
dst_fetch() {
	doveadm -c "$DST_DIR/dovecot.conf" fetch -u alice \
	    'uid size.physical guid text' all >"$1" 2>"$1.err" ||
	    { cat "$1.err" >&2; fail "doveadm fetch failed"; }
}
dst_expunge() {
	doveadm -c "$DST_DIR/dovecot.conf" expunge -u alice mailbox INBOX all ||
	    fail "doveadm expunge failed"
}
# verify ARGS...: smtp_verify.py against the reference run.
verify() {
	python3 "$PF_LIB/smtp_verify.py" check --manifest "$T/ref.json" \
	    --sent "$T/ref" "$@"
}

# 1. The reference: what popfetch's sinks get from this mailbox.
run ref state-ref --keep --maildir "$T/ref"
assert_rc ref 0
python3 -c 'import json, os, sys
d = sys.argv[1] + "/new"
json.dump({"messages": [{"file": f, "kind": "via POP3"}
                        for f in sorted(os.listdir(d))]}, sys.stdout)' \
    "$T/ref" >"$T/ref.json" || fail "cannot list the reference"
[ "$(find "$T/ref/new" -type f | wc -l)" -eq "$PF_NMSG" ] ||
    fail "the reference run did not fetch every message"

# 2. LMTP over the Unix socket, one session for the run.
run unix state-unix --keep --lmtp "$DST_SOCK" --recipient alice --json
assert_rc unix 0
grep -q '"fetched": *'"$PF_NMSG" "$T/unix.out" ||
    { show unix; fail "--json does not count $PF_NMSG fetched"; }
dst_fetch "$T/unix.fetch"
verify --server dovecot --doveadm "$T/unix.fetch" ||
    fail "LMTP over the socket: not stored exactly"

# 3. LMTP over TCP.
dst_expunge
run tcp state-tcp --keep --lmtp "127.0.0.1:$DST_PORT" --recipient alice
assert_rc tcp 0
dst_fetch "$T/tcp.fetch"
verify --server dovecot --doveadm "$T/tcp.fetch" ||
    fail "LMTP over TCP: not stored exactly"

# 4. SMTP to Postfix (loopback: no STARTTLS needed).
postfix_start "$T/px" --conf-extra "message_drop_headers =" ||
    fail "cannot start postfix"
run smtp state-smtp --keep --smtp "127.0.0.1:$PX_PORT" --recipient "$PX_RCPT"
assert_rc smtp 0
postfix_wait "$PF_NMSG" 120 || fail "Postfix did not deliver everything"
verify --server postfix --maildir "$PX_MAILDIR" ||
    fail "SMTP: not stored as expected"

# 5. Without --keep: everything delivered over LMTP, then deleted on the
# POP3 server; a second run finds nothing.
dst_expunge
run move state-move --lmtp "$DST_SOCK" --recipient alice
assert_rc move 0
[ "$(dovecot_count_messages)" -eq 0 ] ||
    fail "$(dovecot_count_messages) messages left on the POP3 server"
dst_fetch "$T/move.fetch"
verify --server dovecot --doveadm "$T/move.fetch" ||
    fail "the moving run: not stored exactly"
run again state-move --lmtp "$DST_SOCK" --recipient alice
assert_rc again 0
dst_fetch "$T/again.fetch"
verify --server dovecot --doveadm "$T/again.fetch" ||
    fail "a second run delivered again"
pass
