#!/bin/bash
# test-oauth-device.sh: the device authorization grant (RFC 8628) against
# the local authorization server (tests/lib/oauth_server.py): the user
# code is shown, authorization_pending is polled through at the interval,
# slow_down adds 5 seconds, the tokens land in a 0600 file in a 0700
# directory; denial and expiry give 77 with the --authorize hint; a
# confidential client sends its secret, a wrong one is a config error (78).
# No token appears in any output, also with the -vv trace.

. "$(dirname "$0")/../lib/common.sh"
. "$PF_LIB/oauth.sh"

pf_init --no-binary
oauth_trap
OAUTH_CLI=${OAUTH_CLI:-$PF_BUILDDIR/tests/oauth-cli}
[ -x "$OAUTH_CLI" ] || fail "no oauth-cli at '$OAUTH_CLI'"
oauth_start "$T/oa" --interval 1 --device-pending 2 --device-slow-down 1 ||
    fail "cannot start the authorization server"
# a client that ignores slow_down is told so again and again: end that
# with an expired code instead of a hung test
oauth_ctl device_ttl=40 || fail "oauth_ctl"
mkdir -m 700 "$T/st"
read -r -a EP < <(oauth_endpoints)
base=(--account work --client-id popfetch-test --scope "pop3 offline_access"
    "${EP[@]}" --flow device)

# 1. pending, pending, slow_down, then the tokens
oauth_cli dev1 -vv --store "$T/st/oauth/work.json" "${base[@]}" authorize
[ "$OC_RC" -eq 0 ] || { show dev1; fail "device flow exited $OC_RC"; }
grep -qE '^VERIFY https://127\.0\.0\.1:[0-9]+/device-verify [0-9A-F]{4}-[0-9A-F]{4} https://' \
    "$T/dev1.out" || { show dev1; fail "no verification URL and code shown"; }
[ "$(stat -c %a "$T/st/oauth")" = 700 ] || fail "token directory not 0700"
[ "$(stat -c %a "$T/st/oauth/work.json")" = 600 ] || fail "token file not 0600"
[ -n "$(oauth_json "$T/st/oauth/work.json" refresh_token)" ] ||
    fail "no refresh token stored"
oauth_stats >"$T/stats1.json"
"$OA_PYTHON" - "$T/stats1.json" <<'EOF' || fail "polling did not honour the interval"
import json, sys
s = json.load(open(sys.argv[1]))
p = s["device_polls"]
gaps = [b - a for a, b in zip(p, p[1:])]
print("device polls:", len(p), "gaps:", ["%.2f" % g for g in gaps],
      "too fast:", s["too_fast"])
# 2 x authorization_pending, 1 x slow_down, then success
assert len(p) == 4, "expected 4 polls"
assert s["too_fast"] == 0, "polled faster than the interval"
assert gaps[0] >= 0.95 and gaps[1] >= 0.95, "interval of 1 s not kept"
assert gaps[2] >= 5.95, "slow_down did not add 5 seconds"
EOF

# 2. the user denies
oauth_ctl device_pending=0 device_slow_down=0 device_result=deny
oauth_cli dev2 --store "$T/st/oauth/deny.json" "${base[@]}" authorize
[ "$OC_RC" -eq 77 ] || { show dev2; fail "denial exited $OC_RC, not 77"; }
grep -q 'denied' "$T/dev2.err" || { show dev2; fail "no 'denied' message"; }
[ ! -e "$T/st/oauth/deny.json" ] || fail "tokens stored after a denial"

# 3. the code expires before the user enters it
oauth_ctl device_result=expire
oauth_cli dev3 --store "$T/st/oauth/exp.json" "${base[@]}" authorize
[ "$OC_RC" -eq 77 ] || { show dev3; fail "expiry exited $OC_RC, not 77"; }
grep -q 'popfetch --authorize work' "$T/dev3.err" ||
    { show dev3; fail "no --authorize hint after expiry"; }
oauth_ctl device_result=approve

# 4. a confidential client: the secret goes along; a wrong one is 78
secret="$T/st/secret"
(umask 077 && echo conf-secret >"$secret")
oauth_cli dev4 -vv --store "$T/st/oauth/conf.json" --account conf \
    --client-id popfetch-conf --client-secret-file "$secret" \
    --scope pop3 "${EP[@]}" --flow device authorize
[ "$OC_RC" -eq 0 ] || { show dev4; fail "confidential client exited $OC_RC"; }
echo wrong-secret >"$secret"
oauth_cli dev5 --store "$T/st/oauth/conf2.json" --account conf \
    --client-id popfetch-conf --client-secret-file "$secret" \
    --scope pop3 "${EP[@]}" --flow device authorize
[ "$OC_RC" -eq 78 ] || { show dev5; fail "wrong secret exited $OC_RC, not 78"; }
grep -q 'oauth2_client_id' "$T/dev5.err" || { show dev5; fail "no client hint"; }

# 5. a scope the provider does not know: a config error
oauth_cli dev6 --store "$T/st/oauth/scope.json" --account work \
    --client-id popfetch-test --scope "pop3 admin" "${EP[@]}" --flow device \
    authorize
[ "$OC_RC" -eq 78 ] || { show dev6; fail "bad scope exited $OC_RC, not 78"; }

for f in "$T"/dev*.out "$T"/dev*.err; do
	grep -qF conf-secret "$f" && fail "the client secret appears in $(basename "$f")"
done
oauth_assert_no_tokens "$T"/dev*.out "$T"/dev*.err
pass
