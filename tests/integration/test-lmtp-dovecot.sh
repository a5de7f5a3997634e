#!/bin/bash
# The smtp module against a real Dovecot LMTP server (dovecot-lmtpd), over
# its Unix socket and over TCP: the nasty corpus (dot lines, From lines,
# 8-bit, NUL, bare CR, long lines, no final newline, a 5 MB message) is
# read back through Dovecot itself (doveadm fetch) byte-exact apart from
# the documented normalisation; the null sender arrives as <>; refusals
# from the real server are permanent and store nothing.
. "$(dirname "$0")/../lib/smtp-common.sh"
smtp_init
pf_server --lmtp
smtp_corpus --count 300 --big --seed 21
note "$SMTP_N messages"

# 1. Unix socket, one session for the whole corpus.
smtp_send unix --lmtp "$DC_LMTP_SOCKET" --to alice --timeout 30000 \
    "${SMTP_FILES[@]}"
smtp_assert_rc unix 0
smtp_assert_delivered unix "$SMTP_N"
assert_empty "$T/unix.err" "stderr of the socket run"
dovecot_fetch_all "$T/unix.fetch"
smtp_verify --server dovecot --doveadm "$T/unix.fetch" \
    --sender sender@example.org || fail "socket run: not stored exactly"

# 2. TCP, with the null sender (a bounce): Return-Path <>.
dovecot_expunge_all
smtp_send tcp --lmtp "127.0.0.1:$DC_LMTP_PORT" --to alice@test.example \
    --from '' --timeout 30000 "${SMTP_FILES[@]}"
smtp_assert_rc tcp 0
smtp_assert_delivered tcp "$SMTP_N"
dovecot_fetch_all "$T/tcp.fetch"
smtp_verify --server dovecot --doveadm "$T/tcp.fetch" --sender '' ||
    fail "TCP run: not stored exactly"

# 3. An unknown recipient: 550 at RCPT, permanent (74), nothing stored,
# and the session goes on (RSET) for the second message.
dovecot_expunge_all
smtp_send unknown --lmtp "$DC_LMTP_SOCKET" --to nobody \
    "${SMTP_FILES[0]}" "${SMTP_FILES[1]}"
smtp_assert_rc unknown 74
[ "$(grep -c '^[12] permfail 550 0 550 5\.1\.1 ' "$T/unknown.out")" -eq 2 ] ||
    { show unknown; fail "the unknown recipient was not refused twice"; }
grep -q '^smtp-send: message 1: mail server refused the message at RCPT: 550 5\.1\.1 <nobody> User doesn.t exist' \
    "$T/unknown.err" || { show unknown; fail "no clear error for message 1"; }
[ "$(dovecot_count_messages)" -eq 0 ] || fail "a refused message was stored"

# 4. Two recipients, one unknown: DATA is never sent, so the known one
# gets nothing either (no partial delivery to retry later).
smtp_send partial --lmtp "$DC_LMTP_SOCKET" --to alice --to nobody \
    "${SMTP_FILES[2]}"
smtp_assert_rc partial 74
[ "$(dovecot_count_messages)" -eq 0 ] || fail "a partial delivery was stored"

# 5. No server at the socket: temporary (75).
smtp_send nosock --lmtp "$T/no-such-socket" --to alice "${SMTP_FILES[0]}"
smtp_assert_rc nosock 75
grep -q "^smtp-send: lmtp: cannot connect to '$T/no-such-socket': No such file or directory$" \
    "$T/nosock.err" || { show nosock; fail "no clear error without a socket"; }
pass
