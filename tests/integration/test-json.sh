#!/bin/bash
# --json: stdout is one JSON document (python3's json parses it) whose
# per-account fetched, bytes, deleted, skipped, errors, seconds and
# exit_code match what really happened: fetched = messages delivered,
# bytes = the delivered octets as popfetch counts them (the message after
# CRLF->LF and dot-unstuffing, without our Received: field), deleted =
# messages removed from the server, skipped = messages left alone. A
# failing account carries its error and exit code.
. "$(dirname "$0")/../lib/common.sh"
pf_init
pf_server
pf_mailgen --count 6 --plain --seed 111
export -n DC_PASS

# json_check NAME KEY=VALUE...: the run's JSON has one account with these
# values ("*" = present); also checks the document's shape.
json_check() {
	local name=$1
	shift
	python3 - "$T/$name.out" "$PF_SECS" "$@" <<'EOF' ||
import json, sys
path, wall, checks = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
text = open(path, encoding="utf-8").read()
try:
    doc = json.loads(text)
except ValueError as e:
    sys.exit("not JSON (%s): %r" % (e, text[:300]))
accts = doc.get("accounts")
if not isinstance(accts, list) or len(accts) != 1:
    sys.exit("want exactly one account: %r" % doc)
a = accts[0]
for k in ("fetched", "bytes", "deleted", "skipped", "errors", "seconds",
          "exit_code"):
    if k not in a:
        sys.exit("account lacks %r: %r" % (k, a))
    if not isinstance(a[k], (int, float)) or isinstance(a[k], bool) \
            or a[k] < 0:
        sys.exit("%r is not a number >= 0: %r" % (k, a[k]))
if a["seconds"] > wall + 0.5:
    sys.exit("seconds %r exceeds the wall time %r" % (a["seconds"], wall))
for c in checks:
    k, v = c.split("=", 1)
    if v == "*":
        if a.get(k) in (None, ""):
            sys.exit("%s is empty: %r" % (k, a))
    elif str(a.get(k)) != v:
        sys.exit("%s is %r, expected %s: %r" % (k, a.get(k), v, a))
EOF
	{ show "$name"; fail "$name: JSON check failed"; }
}

# body_bytes DIR: the delivered octets in a Maildir without the leading
# Received: field popfetch adds (same rule as verify.py).
body_bytes() {
	python3 - "$1" <<'EOF'
import os, sys
total = 0
for sub in ("new", "cur"):
    d = os.path.join(sys.argv[1], sub)
    for n in os.listdir(d) if os.path.isdir(d) else []:
        data = open(os.path.join(d, n), "rb").read()
        lines = data.split(b"\n")
        if lines and lines[0].startswith(b"Received: from ") :
            i = 1
            while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
                i += 1
            data = b"\n".join(lines[i:])
        total += len(data)
print(total)
EOF
}

# 1. Keep mode: fetched = 6 delivered, nothing deleted or skipped.
pf_run keep1 --json --keep --maildir "$T/mail"
assert_rc keep1 0
assert_empty "$T/keep1.err" "stderr of a --json run"
n=$(maildir_count "$T/mail")
[ "$n" -eq 6 ] || fail "keep1 delivered $n, expected 6"
json_check keep1 fetched=6 deleted=0 skipped=0 errors=0 exit_code=0 \
    "bytes=$(body_bytes "$T/mail")"

# 2. Two new ones: fetched 2, the 6 seen before are skipped.
pf_mailgen --count 2 --plain --seed 112 --start 20
pf_run keep2 --json --keep --maildir "$T/mail2"
assert_rc keep2 0
json_check keep2 fetched=2 deleted=0 skipped=6 errors=0 exit_code=0 \
    "bytes=$(body_bytes "$T/mail2")"

# 3. --no-received: bytes is then exactly the size of the files.
pf_run norecv --json --keep --all --no-received --maildir "$T/mail3"
assert_rc norecv 0
sz=$(find "$T/mail3/new" "$T/mail3/cur" -type f -printf '%s\n' |
    awk '{ s += $1 } END { print s + 0 }')
json_check norecv fetched=8 deleted=0 skipped=0 "bytes=$sz"

# 4. --max-size leaves the big ones alone (skipped), fetches the rest.
# The server's sizes decide (LIST octets: the message with CRLF); the
# limit goes between the 4th and 5th smallest so that some are skipped.
read -r limit over < <(python3 - "$DC_MAILDIR" <<'EOF'
import os, sys
sizes = []
for sub in ("new", "cur"):
    d = os.path.join(sys.argv[1], sub)
    for f in os.listdir(d):
        data = open(os.path.join(d, f), "rb").read()
        sizes.append(len(data) + data.count(b"\n") - data.count(b"\r\n"))
sizes.sort()
limit = (sizes[3] + sizes[4]) // 2
print(limit, sum(1 for s in sizes if s > limit))
EOF
)
[ "$over" -gt 0 ] && [ "$over" -lt 8 ] ||
    fail "the corpus does not straddle $limit octets ($over over)"
pf_run maxsize --json --keep --all --max-size "$limit" --maildir "$T/mail4"
assert_rc maxsize 0
got=$(maildir_count "$T/mail4")
[ "$got" -eq $((8 - over)) ] ||
    fail "--max-size $limit fetched $got, expected $((8 - over))"
json_check maxsize "fetched=$got" deleted=0 "skipped=$over" \
    "bytes=$(body_bytes "$T/mail4")"
[ "$(dovecot_count_messages)" -eq 8 ] || fail "--max-size --keep deleted"

# 5. Delete mode: everything delivered before is deleted, not fetched.
before=$(dovecot_count_messages)
pf_run del --json --maildir "$T/mail5"
assert_rc del 0
after=$(dovecot_count_messages)
json_check del "fetched=$(maildir_count "$T/mail5")" \
    "deleted=$((before - after))" errors=0 exit_code=0
[ "$after" -eq 0 ] || fail "delete mode left $after messages"

# 6. A fresh batch fetched and deleted in the same run.
pf_mailgen --count 3 --plain --seed 113 --start 40
pf_run del2 --json --maildir "$T/mail6"
assert_rc del2 0
json_check del2 fetched=3 deleted=3 skipped=0 errors=0 exit_code=0 \
    "bytes=$(body_bytes "$T/mail6")"
[ "$(dovecot_count_messages)" -eq 0 ] || fail "del2 left mail"

# 7. A failing account: its error and exit code, and the top-level one.
pf_mailgen --count 2 --plain --seed 114 --start 60
printf 'wrong\n' >"$T/wrongpw"
pf_run_raw bad --json --host localhost --port "$DC_POP3S_PORT" \
    --user "$DC_USER" --password-command "cat $T/wrongpw" \
    --ca-file "$DC_CA" --state-dir "$T/state" --timeout 30 \
    --maildir "$T/mail7"
assert_rc bad 77
json_check bad fetched=0 deleted=0 exit_code=77 error='*'
python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if d.get("exit_code") == 77 else "top-level exit_code %r" %
         d.get("exit_code"))' "$T/bad.out" || fail "bad: top-level exit_code"

# 8. Two accounts from a config file, one good and one failing.
cat >"$T/config" <<EOF
defaults
  host localhost
  port $DC_POP3S_PORT
  user $DC_USER
  ca_file $DC_CA
  state_dir $T/state
  timeout 30
account good
  password_command cat $DC_PASS_FILE
  maildir $T/mail8
account broken
  password_command cat $T/wrongpw
  maildir $T/mail9
EOF
pf_run_raw multi --json -C "$T/config" good broken
assert_rc multi 77
python3 - "$T/multi.out" <<'EOF' || { show multi; fail "multi: JSON check"; }
import json, sys
d = json.load(open(sys.argv[1]))
acc = {a["account"]: a for a in d["accounts"]}
assert set(acc) == {"good", "broken"}, acc
g, b = acc["good"], acc["broken"]
assert g["exit_code"] == 0 and g["fetched"] == 2 and g["error"] is None, g
assert b["exit_code"] == 77 and b["fetched"] == 0 and b["error"], b
assert d["exit_code"] == 77, d
EOF
[ "$(maildir_count "$T/mail8")" -eq 2 ] || fail "multi: good account not fetched"
pass
