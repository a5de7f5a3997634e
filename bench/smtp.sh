#!/bin/bash
# bench/smtp.sh: W1 through a mail server (bench/run --only W1-LMTP,W1-SMTP
# runs it; see bench/README.md).
#
#   bench/smtp.sh --popfetch BIN [--count N] [--runs N] [--only LIST]
#
# W1 (N x 4 KiB, default 2000, bench/gen.py seed 1) on a Dovecot POP3
# server, fetched and deleted by: popfetch --lmtp into a second Dovecot's
# LMTP socket (W1-LMTP), popfetch --smtp into a Postfix on loopback and
# fetchmail with smtphost to the same Postfix, its default mode of
# delivery (W1-SMTP), and popfetch --maildir for reference. The servers
# come from the test fixtures (tests/lib/dovecot.sh, postfix.sh; Postfix
# needs root). Each run starts from a fresh copy of the mailbox; a run
# counts only when the POP3 server ends empty and the mail server holds
# every message. Prints the wall time of each run and the medians.
set -u
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PF_SRCDIR=$src PF_TEST=bench-smtp
POPFETCH=
N=2000
RUNS=3
ONLY=W1-LMTP,W1-SMTP
while [ $# -gt 0 ]; do
	case $1 in
	--popfetch) POPFETCH=$2; shift 2 ;;
	--count) N=$2; shift 2 ;;
	--runs) RUNS=$2; shift 2 ;;
	--only) ONLY=$2; shift 2 ;;
	*) echo "bench/smtp.sh: unknown option '$1'" >&2; exit 64 ;;
	esac
done
export POPFETCH
# shellcheck source=../tests/lib/smtp-common.sh
. "$src/tests/lib/smtp-common.sh"
SMTP_SEND=/bin/true smtp_init
[ -x "$POPFETCH" ] || fail "no popfetch binary (--popfetch)"
[ "$(id -u)" -eq 0 ] || fail "Postfix needs root"

dovecot_start "$T/dst" --lmtp || fail "cannot start the LMTP dovecot"
DST_PID=$DC_PID DST_SOCK=$DC_LMTP_SOCKET DST_MD=$DC_MAILDIR
trap '_rc=$?; k=$DC_PID; DC_PID=$DST_PID; dovecot_stop; DC_PID=$k;
    postfix_stop; (exit $_rc); _pf_cleanup' EXIT
pf_server --no-ipv6
postfix_start "$T/px" >/dev/null || fail "cannot start postfix"
python3 "$src/bench/gen.py" --maildir "$T/gen" --manifest "$T/w1.json" \
    --count "$N" --size 4096 --kind text --seed 1 >/dev/null ||
    fail "gen.py failed"

# refill: a fresh copy of the mailbox (no Dovecot index), fresh state.
refill() {
	rm -rf "$DC_MAILDIR" "$T/st" "$T/md"
	mkdir -p "$DC_MAILDIR/tmp" "$DC_MAILDIR/cur" "$T/st"
	cp -a "$T/gen/new" "$DC_MAILDIR/new"
	dovecot_chown
	find "$DST_MD/new" "$DST_MD/cur" "$PX_MAILDIR/new" "$PX_MAILDIR/cur" \
	    -type f -delete 2>/dev/null
	sync
}
# timed NAME CMD...: run CMD, record its wall time in $T/NAME.times.
timed() {
	local name=$1 t0 t1 rc
	shift
	t0=$(date +%s.%N)
	"$@" </dev/null >"$T/$name.out" 2>"$T/$name.err"
	rc=$?
	t1=$(date +%s.%N)
	[ "$rc" -eq 0 ] || { cat "$T/$name.err" >&2; fail "$name exit $rc"; }
	[ "$(dovecot_count_messages)" -eq 0 ] ||
	    fail "$name left messages on the POP3 server"
	awk "BEGIN { printf \"%.3f\n\", $t1 - $t0 }" >>"$T/$name.times"
	printf '%-16s run %d: %s s\n' "$name" "$r" "$(tail -1 "$T/$name.times")"
}
PFA=(--host localhost --port "$DC_POP3S_PORT" --user "$DC_USER"
    --password-command "cat $DC_PASS_FILE" --ca-file "$DC_CA"
    --state-dir "$T/st" -q)
fetchmailrc() {
	cat >"$T/st/fmrc" <<EOT
set no syslog
poll localhost protocol pop3 port $DC_POP3S_PORT
  user "$DC_USER" there is "alice" here password "$(cat "$DC_PASS_FILE")"
  ssl sslcertfile "$DC_CA" sslcertck
  smtphost 127.0.0.1/$PX_PORT smtpaddress test.example
  fetchall nokeep no rewrite
EOT
	chmod 600 "$T/st/fmrc"
}

for r in $(seq 1 "$RUNS"); do
	refill
	timed popfetch-maildir "$POPFETCH" "${PFA[@]}" --maildir "$T/md"
	if [[ ,$ONLY, == *,W1-LMTP,* ]]; then
		refill
		timed popfetch-lmtp "$POPFETCH" "${PFA[@]}" --lmtp "$DST_SOCK" \
		    --recipient alice
		[ "$(find "$DST_MD/new" "$DST_MD/cur" -type f | wc -l)" -eq "$N" ] ||
		    fail "LMTP: not every message arrived"
	fi
	if [[ ,$ONLY, == *,W1-SMTP,* ]]; then
		refill
		timed popfetch-smtp "$POPFETCH" "${PFA[@]}" \
		    --smtp "127.0.0.1:$PX_PORT" --recipient "$PX_RCPT"
		postfix_wait "$N" 300 || fail "Postfix did not deliver popfetch's"
		refill
		fetchmailrc
		timed fetchmail-smtp fetchmail -f "$T/st/fmrc" -i "$T/st/ids" \
		    --nosyslog -s --nodetach
		postfix_wait "$N" 300 || fail "Postfix did not deliver fetchmail's"
	fi
done
echo "W1 ($N x 4 KiB), median wall time of $RUNS runs:"
for f in "$T"/*.times; do
	printf '  %-16s %s s\n' "$(basename "$f" .times)" \
	    "$(sort -n "$f" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')"
done
if [ -f "$T/popfetch-smtp.times" ] && [ -f "$T/fetchmail-smtp.times" ]; then
	med() { sort -n "$1" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
	awk "BEGIN { printf \"  popfetch --smtp / fetchmail smtphost: %.2fx (target <= 0.5x)\n\", \
	    $(med "$T/popfetch-smtp.times") / $(med "$T/fetchmail-smtp.times") }"
fi
pass
