#!/bin/bash
# The connection drops in the middle of the 5 MB message's RETR body: exit
# 75, no partial message anywhere, nothing lost; a second run delivers the
# rest with no duplicates and empties the server.
. "$(dirname "$0")/../lib/common.sh"
pf_init
pf_server
pf_mailgen --count 40 --plain --size 20000:60000 --big --seed 41

# The big message sits at position count/3; cut halfway through it. The
# protocol and TLS overhead before it is a few KB, far below 2.5 MB.
cut=$(python3 -c 'import json, sys
m = json.load(open(sys.argv[1]))["messages"]
k = [i for i, x in enumerate(m) if x["kind"] == "big-5mb"][0]
print(sum(x["wire_length"] for x in m[:k]) + m[k]["wire_length"] // 2)' \
    "$T/manifest.json")
note "cutting after $cut bytes"
proxy_start --cut-after-bytes "$cut" --once

PF_PORT=$PROXY_PORT pf_run cut --maildir "$T/mail"
assert_rc cut 75
grep -q '^popfetch: ' "$T/cut.err" || { show cut; fail "no 'popfetch: ' error line"; }
grep -q "cut: after $cut bytes" "$T/proxy.log" || fail "the proxy did not cut"
[ "$(maildir_tmp_count "$T/mail")" -eq 0 ] || fail "tmp/ is not empty after the cut"
# Nothing was committed by QUIT, so the server still holds everything.
[ "$(dovecot_count_messages)" -eq "$PF_NMSG" ] || fail "messages left the server without QUIT"
got=$(maildir_count "$T/mail")
big=$(python3 -c 'import json, sys
m = json.load(open(sys.argv[1]))["messages"]
print([i for i, x in enumerate(m) if x["kind"] == "big-5mb"][0])' \
    "$T/manifest.json")
note "$got messages delivered before the cut (the cut one is number $((big + 1)))"
# popfetch fetches in listing order, so at most the messages before the
# one that was cut can be in the Maildir.
[ "$got" -le "$big" ] || fail "$got messages delivered: the cut message or later ones too"
verify --maildir "$T/mail" --allow-missing-from-server-dir "$DC_MAILDIR" ||
    fail "after the cut: partial, lost or duplicated messages"

# The second run delivers the rest, none twice. It goes through the same
# proxy (--once: no fault now) because the account is user@host:port.
PF_PORT=$PROXY_PORT pf_run rest --maildir "$T/mail"
assert_rc rest 0
assert_empty "$T/rest.err" "stderr of the second run"
verify --maildir "$T/mail" --originals "$DC_MAILDIR" ||
    fail "after the second run: not exactly the corpus (duplicates?)"
n=$(dovecot_count_messages)
[ "$n" -eq 0 ] || fail "$n messages are still on the server"

# 2. The same cut over plain POP3 with a TCP reset, inside a line.
dovecot_stop
rm -rf "$T/dc" "$T/state" "$T/mail"
pf_server
pf_mailgen --count 30 --plain --size 30000:30000 --seed 42
proxy_start --target "127.0.0.1:$DC_POP3_PORT" --cut-after-bytes 400017 --rst --once
PF_HOST=127.0.0.1 PF_PORT=$PROXY_PORT pf_run rst -q --no-tls --auth user \
    --maildir "$T/mail"
assert_rc rst 75
[ "$(maildir_tmp_count "$T/mail")" -eq 0 ] || fail "tmp/ is not empty after the reset"
verify --maildir "$T/mail" --allow-missing-from-server-dir "$DC_MAILDIR" ||
    fail "after the reset: partial, lost or duplicated messages"
PF_HOST=127.0.0.1 PF_PORT=$PROXY_PORT pf_run rest2 -q --no-tls --auth user \
    --maildir "$T/mail"
assert_rc rest2 0
verify --maildir "$T/mail" || fail "after the reset and a rerun: not exactly the corpus"
pass
