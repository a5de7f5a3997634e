#!/bin/bash
# Self-test of the test harness, without popfetch: the Dovecot fixture
# serves the mailgen.py corpus exactly as mailgen.expected() predicts
# (checked by verify.py's own POP3 client over TLS, STLS-less plain, and
# through faultproxy.py), verify.py catches lost, duplicated, corrupt and
# partial messages and mboxrd mistakes, and the proxy's faults fire.
. "$(dirname "$0")/../lib/common.sh"
pf_init --no-binary
pf_server
pf_mailgen --count 500 --big --seed 7
pop3() {
	verify --quiet --user "$DC_USER" --password-file "$DC_PASS_FILE" "$@"
}
pop3 --pop3 "localhost:$DC_POP3S_PORT" --ca-file "$DC_CA" ||
    fail "the corpus over TLS is not what mailgen.expected() predicts"
pop3 --pop3 "127.0.0.1:$DC_POP3_PORT" --plain ||
    fail "the corpus over plain POP3 is not what mailgen.expected() predicts"
proxy_start --delay-ms 5
pop3 --pop3 "localhost:$PROXY_PORT" --ca-file "$DC_CA" ||
    fail "the corpus through the proxy differs"
proxy_stop

# Same seed, same bytes.
python3 "$PF_LIB/mailgen.py" --maildir "$T/gen2" --manifest "$T/m2.json" \
    --count 500 --big --seed 7 || fail "mailgen.py failed"
cmp -s <(grep sha256 "$T/manifest.json") <(grep sha256 "$T/m2.json") ||
    fail "mailgen.py is not deterministic"

# Build what a correct popfetch would deliver, as a Maildir and an mbox.
python3 - "$T" "$DC_MAILDIR" <<'PY' || fail "cannot build the reference deliveries"
import json, os, re, sys, time
sys.path.insert(0, os.environ["PF_LIB"])
from mailgen import expected
t, md = sys.argv[1], sys.argv[2]
man = json.load(open(t + "/manifest.json"))["messages"]
for sub in ("new", "cur", "tmp"):
    os.makedirs("%s/ref/%s" % (t, sub), exist_ok=True)
date = time.asctime(time.localtime(0))
with open(t + "/ref.mbox", "wb") as mb:
    for m in man:
        name = [n for s in ("new", "cur") for n in os.listdir(md + "/" + s)
                if n.split(":")[0] == m["file"]][0]
        sub = "new" if os.path.exists(md + "/new/" + name) else "cur"
        body = expected(open("%s/%s/%s" % (md, sub, name), "rb").read())
        msg = (b"Received: from localhost by test with POP3 (popfetch 0)\n"
               b"\tid %d; Thu, 1 Jan 1970 00:00:00 +0000\n" % m["pos"] + body)
        open("%s/ref/new/%d" % (t, m["pos"]), "wb").write(msg)
        mb.write(b"From " + m["sender"].encode("latin-1") + b" " +
                 date.encode() + b"\n" +
                 re.sub(rb"(?m)^(>*From )", rb">\1", msg) + b"\n")
PY
verify --quiet --maildir "$T/ref" || fail "verify.py rejects a correct Maildir"
verify --quiet --mbox "$T/ref.mbox" --check-senders ||
    fail "verify.py rejects a correct mbox"
verify --quiet --stream "$T/ref.mbox" || fail "verify.py rejects a correct stream"

# Each fault must be caught.
expect_fail() {
	local what=$1
	shift
	if verify --quiet "$@" 2>"$T/v.err"; then
		fail "verify.py missed: $what"
	fi
	grep -q "$2" "$T/v.err" 2>/dev/null || true
}
cp -r "$T/ref" "$T/bad"
cp "$T/bad/new/5" "$T/bad/new/5.copy"
expect_fail "a duplicate" --maildir "$T/bad"
grep -q '^verify: duplicate' "$T/v.err" || fail "duplicate not named"
rm "$T/bad/new/5.copy" "$T/bad/new/6"
expect_fail "a lost message" --maildir "$T/bad"
grep -q '^verify: lost' "$T/v.err" || fail "loss not named"
verify --quiet --maildir "$T/bad" --allow-missing-from-server-dir "$DC_MAILDIR" ||
    fail "a message still on the server was counted as lost"
cp "$T/ref/new/6" "$T/bad/new/6"
head -c 100 "$T/ref/new/7" >"$T/bad/tmp/partial"
expect_fail "a file in tmp/" --maildir "$T/bad"
rm "$T/bad/tmp/partial"
printf 'x' >>"$T/bad/new/7"
expect_fail "a corrupt message" --maildir "$T/bad"
grep -q 'corrupt copy' "$T/v.err" || fail "corruption not named"
cp "$T/ref/new/7" "$T/bad/new/7"
sed -i '1d' "$T/bad/new/8"
expect_fail "a missing Received field" --maildir "$T/bad"
verify --quiet --maildir "$T/bad" --no-received 2>/dev/null &&
    fail "verify.py --no-received accepts Received fields"
cp "$T/ref/new/8" "$T/bad/new/8"
verify --quiet --maildir "$T/bad" || fail "the repaired Maildir is rejected"

# mbox: an unquoted From line in a body, a missing blank line.
python3 - "$T" <<'PY'
import sys
t = sys.argv[1]
d = open(t + "/ref.mbox", "rb").read()
i = d.index(b"\n>From ")
open(t + "/unquoted.mbox", "wb").write(d[:i + 1] + d[i + 2:])
j = d.index(b"\n\nFrom ", 1000)
open(t + "/noblank.mbox", "wb").write(d[:j] + d[j + 1:])
PY
expect_fail "an unquoted From line" --mbox "$T/unquoted.mbox"
expect_fail "a missing blank line" --mbox "$T/noblank.mbox"

# The proxy's faults.
proxy_start --cut-after-bytes 5000 --once
pop3 --pop3 "localhost:$PROXY_PORT" --ca-file "$DC_CA" 2>/dev/null &&
    fail "a cut connection went unnoticed"
grep -q 'cut: after 5000 bytes' "$T/proxy.log" || fail "no cut after 5000 bytes"
pop3 --pop3 "localhost:$PROXY_PORT" --ca-file "$DC_CA" ||
    fail "--once: the second connection was not clean"
proxy_stop
proxy_start --target "127.0.0.1:$DC_POP3_PORT" --cut-before-client-line '^PASS' \
    --log-client "$T/client.log"
pop3 --pop3 "127.0.0.1:$PROXY_PORT" --plain 2>/dev/null &&
    fail "--cut-before-client-line did not cut"
grep -q '^PASS' "$T/client.log" || fail "--log-client did not log PASS"
proxy_stop
proxy_start --target "127.0.0.1:$DC_POP3_PORT" --stall-after-bytes 10
timeout 3 python3 -c 'import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(1.5)
n = 0
try:
    while True:
        d = s.recv(4096)
        if not d:
            sys.exit("stall: EOF after %d bytes" % n)
        n += len(d)
except socket.timeout:
    sys.exit(0 if n == 10 else "stall: got %d bytes" % n)' "$PROXY_PORT" ||
    fail "--stall-after-bytes did not stall"
proxy_stop
pass
