#!/bin/bash
# The smtp module against a real Postfix (its own config, queue and port
# on 127.0.0.1, virtual(8) delivery into a Maildir): the nasty corpus in
# one session, plain (loopback needs no TLS) and with STARTTLS verified
# against the test CA, stored as Postfix's documented normalisation says;
# a message a header_checks rule rejects is refused for good while the
# session goes on; an unknown recipient, the null sender and a UTF-8
# sender (SMTPUTF8).
. "$(dirname "$0")/../lib/smtp-common.sh"
smtp_init
[ "$(id -u)" -eq 0 ] || fail "Postfix needs root (scripts/test runs as root)"
printf '/^X-Reject-Me:/ REJECT rejected by a test rule\n' >"$T/header_checks"
postfix_start "$T/px" --tls --conf-extra "message_drop_headers =" \
    --conf-extra "header_checks = regexp:$T/header_checks" ||
    fail "cannot start postfix"
smtp_corpus --count 300 --big --seed 22
note "$SMTP_N messages"

# maildir_clear: forget what Postfix delivered so far.
maildir_clear() {
	find "$PX_MAILDIR/new" "$PX_MAILDIR/cur" -type f -delete
}

# 1. Plain SMTP on loopback, the whole corpus in one session.
smtp_send plain --smtp "127.0.0.1:$PX_PORT" --to "$PX_RCPT" \
    --timeout 30000 "${SMTP_FILES[@]}"
smtp_assert_rc plain 0
smtp_assert_delivered plain "$SMTP_N"
postfix_wait "$SMTP_N" 120 || fail "Postfix did not deliver everything"
smtp_verify --server postfix --maildir "$PX_MAILDIR" \
    --sender sender@example.org || fail "plain run: not stored as expected"

# 2. The same with STARTTLS, verified against the test CA.
maildir_clear
smtp_send tls --smtp "localhost:$PX_PORT" --to "$PX_RCPT" --tls starttls \
    --ca-file "$PX_CA" --timeout 30000 "${SMTP_FILES[@]}"
smtp_assert_rc tls 0
smtp_assert_delivered tls "$SMTP_N"
grep -q 'TLS connection established from' "$PX_LOG" ||
    fail "Postfix logged no TLS connection"
postfix_wait "$SMTP_N" 120 || fail "Postfix did not deliver everything"
smtp_verify --server postfix --maildir "$PX_MAILDIR" \
    --sender sender@example.org || fail "TLS run: not stored as expected"

# 3. A rejected message between two good ones: 550 after the data,
# permanent (74); RSET keeps the session for the third.
maildir_clear
printf 'Subject: one\n\nfirst\n' >"$T/m1"
printf 'Subject: two\nX-Reject-Me: yes\n\nsecond\n' >"$T/m2"
printf 'Subject: three\n\nthird\n' >"$T/m3"
smtp_send reject --smtp "127.0.0.1:$PX_PORT" --to "$PX_RCPT" \
    "$T/m1" "$T/m2" "$T/m3"
smtp_assert_rc reject 74
grep -q '^1 delivered 250 ' "$T/reject.out" &&
    grep -q '^2 permfail 550 0 550 5\.7\.1 rejected by a test rule$' \
        "$T/reject.out" &&
    grep -q '^3 delivered 250 ' "$T/reject.out" ||
    { show reject; fail "wrong outcomes around the rejected message"; }
grep -q '^smtp-send: message 2: mail server refused the message at the end of data: 550 5\.7\.1 rejected by a test rule (kept; fix the cause on the mail server, then run again)$' \
    "$T/reject.err" || { show reject; fail "no clear error for message 2"; }
postfix_wait 2 60 || fail "the two good messages were not delivered"
sleep 1
[ "$(postfix_count)" -eq 2 ] || fail "the rejected message was delivered"
# Postfix's own count of the session: three MAILs, two of three DATAs
# accepted, one RSET.
grep -qE 'mail=3 rcpt=3 data=2/3 rset=1 quit=1' "$PX_LOG" ||
    fail "Postfix did not see MAIL x3, DATA 2/3, RSET, QUIT"

# 4. An unknown recipient: 550 at RCPT, permanent, nothing queued.
smtp_send unknown --smtp "127.0.0.1:$PX_PORT" --to nobody@test.example \
    "$T/m1"
smtp_assert_rc unknown 74
grep -q '^1 permfail 550 0 550 5\.1\.1 ' "$T/unknown.out" ||
    { show unknown; fail "the unknown recipient was not refused"; }

# 5. The null sender and a UTF-8 sender (SMTPUTF8) reach the mailbox.
maildir_clear
smtp_send null --smtp "127.0.0.1:$PX_PORT" --to "$PX_RCPT" --from '' \
    "$T/m1"
smtp_assert_rc null 0
smtp_send utf8 --smtp "127.0.0.1:$PX_PORT" --to "$PX_RCPT" \
    --from 'jörg@example.org' "$T/m3"
smtp_assert_rc utf8 0
postfix_wait 2 60 || fail "the two messages were not delivered"
grep -l '^Subject: one' "$PX_MAILDIR"/new/* | xargs grep -q '^Return-Path: <>$' ||
    fail "the null sender did not arrive as <>"
grep -l '^Subject: three' "$PX_MAILDIR"/new/* |
    xargs grep -q '^Return-Path: <jörg@example.org>$' ||
    fail "the UTF-8 sender did not arrive"

# 6. Nothing listening: temporary (75).
port=$(_px_free_port)
smtp_send refused --smtp "127.0.0.1:$port" --to "$PX_RCPT" "$T/m1"
smtp_assert_rc refused 75
grep -q "^smtp-send: smtp: cannot connect to '127\.0\.0\.1:$port': Connection refused$" \
    "$T/refused.err" || { show refused; fail "no clear error when refused"; }
pass
