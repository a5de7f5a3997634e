#!/bin/bash
# Crash loop with an LMTP target (docs/faults.md #86): Dovecot POP3 ->
# popfetch --lmtp -> a second Dovecot's LMTP. popfetch is killed with a
# real SIGKILL at a random moment of each run. After every kill no message
# may be lost (each one is in the LMTP mailbox or still on the POP3
# server) and the LMTP mailbox may hold at most one extra copy per kill
# (each delivery is recorded before the next message is handed over, so a
# kill re-delivers at most the one message in flight). Then runs without a
# kill must empty the POP3 server, leaving every message delivered, within
# the same bound of duplicates.
. "$(dirname "$0")/../lib/common.sh"
pf_init

WANT_KILLS=${PF_CRASH_KILLS:-20}
NMSG=200

dovecot_start "$T/dst" --lmtp || fail "cannot start the LMTP dovecot"
DST_PID=$DC_PID DST_SOCK=$DC_LMTP_SOCKET DST_MAILDIR=$DC_MAILDIR
# stop_dst: stop the destination Dovecot (dovecot_stop knows one pid).
stop_dst() {
	local keep=$DC_PID
	DC_PID=$DST_PID
	dovecot_stop
	DC_PID=$keep
}
trap '_rc=$?; [ -z "${PF_BG:-}" ] || kill -9 "$PF_BG" 2>/dev/null;
    stop_dst; (exit $_rc); _pf_cleanup' EXIT
pf_server --no-ipv6
pf_mailgen --count "$NMSG" --plain --seed 303 >/dev/null

ARGS=(--host localhost --port "$DC_POP3S_PORT" --user "$DC_USER"
    --password-command "cat $DC_PASS_FILE" --ca-file "$DC_CA"
    --state-dir "$T/state" --timeout 30 --lmtp "$DST_SOCK"
    --recipient alice)

# check KILLS [final]: nothing lost, at most KILLS duplicates; "final":
# the POP3 server must be empty too.
check() {
	python3 - "$T/manifest.json" "$DC_MAILDIR" "$DST_MAILDIR" "$1" \
	    "${2:-}" <<'EOF'
import json, os, re, sys

man, src, dst, kills, final = sys.argv[1:6]
ids = {m["id"] for m in json.load(open(man))["messages"]}


def count(maildir):
    n = {}
    for sub in ("new", "cur"):
        d = os.path.join(maildir, sub)
        for f in os.listdir(d) if os.path.isdir(d) else []:
            with open(os.path.join(d, f), "rb") as fp:
                m = re.search(rb"(?mi)^X-Mailgen-Id: *(\d+)", fp.read())
            if m is None:
                sys.exit("%s/%s: no X-Mailgen-Id" % (sub, f))
            k = int(m.group(1))
            n[k] = n.get(k, 0) + 1
    return n


on_src, got = count(src), count(dst)
lost = sorted(i for i in ids if got.get(i, 0) == 0 and on_src.get(i, 0) == 0)
unknown = sorted(set(got) - ids)
dups = sum(c - 1 for c in got.values() if c > 1)
probs = []
if lost:
    probs.append("lost: %s" % lost[:20])
if unknown:
    probs.append("unknown messages delivered: %s" % unknown[:20])
if dups > int(kills):
    probs.append("%d duplicates after %s kills" % (dups, kills))
if final and on_src:
    probs.append("%d messages left on the POP3 server" % len(on_src))
if final and len(got) != len(ids):
    probs.append("%d of %d messages delivered" % (len(got), len(ids)))
for p in probs:
    print("check: " + p, file=sys.stderr)
print("%d on the server, %d delivered, %d duplicates"
      % (sum(on_src.values()), len(got), dups))
sys.exit(1 if probs else 0)
EOF
}

kills=0 runs=0
RANDOM=303
while [ "$kills" -lt "$WANT_KILLS" ]; do
	runs=$((runs + 1))
	[ "$runs" -le $((WANT_KILLS * 3)) ] || fail "$runs runs, $kills kills"
	if [ "$(dovecot_count_messages)" -eq 0 ]; then
		note "the POP3 server ran empty after $kills kills"
		break
	fi
	"$POPFETCH" "${ARGS[@]}" </dev/null >"$T/run$runs.out" \
	    2>"$T/run$runs.err" &
	PF_BG=$!
	# 30 ms to 630 ms into the run: login, listing, the deliveries.
	sleep "0.$(printf '%03d' $((30 + RANDOM % 600)))"
	if kill -9 "$PF_BG" 2>/dev/null; then
		wait "$PF_BG" 2>/dev/null
		rc=$?
	else
		wait "$PF_BG"
		rc=$?
	fi
	PF_BG=
	case $rc in
	137) kills=$((kills + 1)) ;;
	0) note "run $runs finished before the kill" ;;
	*) show "run$runs"; fail "run $runs exited $rc" ;;
	esac
	out=$(check "$kills") || fail "after run $runs ($kills kills): $out"
	note "kill $kills (run $runs): $out"
done
for r in 1 2 3; do
	pf_run_raw "clean$r" "${ARGS[@]}"
	assert_rc "clean$r" 0
	[ "$(dovecot_count_messages)" -ne 0 ] || break
done
out=$(check "$kills" final) || fail "at the end: $out"
note "$kills kills in $runs runs: $out"
pf_run_raw idle "${ARGS[@]}"
assert_rc idle 0
assert_empty "$T/idle.err" "stderr of an idle run"
out2=$(check "$kills" final) || fail "after an idle run: $out2"
[ "$out2" = "$out" ] || fail "the idle run changed something: $out2"
pass
