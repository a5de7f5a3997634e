#!/bin/bash
# test-oauth-dovecot.sh: a real POP3 login with OAuth end to end. The
# oauth module gets a token from the local authorization server (device
# flow, through the oauth-cli driver); popfetch logs in with it through
# today's path (--auth=xoauth2 or oauthbearer, --password-command); a real
# Dovecot checks it with its own oauth2 passdb against the server's
# RFC 7662 introspection endpoint. A revoked token is refused (77). The
# tokens appear in no output, also at -vv, and in no state file.

. "$(dirname "$0")/../lib/common.sh"
. "$PF_LIB/oauth.sh"

pf_init
oauth_trap
OAUTH_CLI=${OAUTH_CLI:-$PF_BUILDDIR/tests/oauth-cli}
[ -x "$OAUTH_CLI" ] || fail "no oauth-cli at '$OAUTH_CLI'"

# one test PKI for both servers, so Dovecot trusts the OAuth server
bash "$PF_SRCDIR/tests/tls/mkcerts.sh" "$T/certs" || fail "mkcerts.sh failed"
export PF_CERTCACHE=$T/certs
oauth_start "$T/oa" || fail "cannot start the authorization server"
pf_server --oauth2 "https://dovecot:dovecot-secret@127.0.0.1:$OA_PORT/introspect"
# Dovecot delays each login from an address after a refusal (2, 4, 8,
# 15 s): alternate the refused logins between 127.0.0.1 and ::1 to keep
# that short
other=127.0.0.1
_dc_have_ipv6 && other=::1
pf_mailgen --plain --count 3

mkdir -m 700 "$T/st"
store=$T/st/oauth/alice.json
read -r -a EP < <(oauth_endpoints)
base=(--store "$store" --account alice --client-id popfetch-test
    --scope "pop3 offline_access" "${EP[@]}")
oauth_cli auth "${base[@]}" --flow device authorize
[ "$OC_RC" -eq 0 ] || { show auth; fail "authorization exited $OC_RC"; }
(umask 077 && : >"$T/st/token")
oauth_cli tok "${base[@]}" --out "$T/st/token" token
[ "$OC_RC" -eq 0 ] || { show tok; fail "token exited $OC_RC"; }

# fetch NAME MECH [HOST]: popfetch with the token as its secret
fetch() {
	local name=$1 mech=$2 host=${3:-127.0.0.1}
	pf_run_raw "$name" --host "$host" --port "$DC_POP3S_PORT" \
	    --user "$DC_USER" --auth="$mech" \
	    --password-command "cat $T/st/token" --ca-file "$DC_CA" \
	    --state-dir "$T/state" --timeout 30 --maildir "$T/Maildir" -vv
}

# 1. XOAUTH2
introspected=$(oauth_stats introspect)
fetch x1 xoauth2
assert_rc x1 0
verify --maildir "$T/Maildir" || fail "XOAUTH2 run: mail not delivered"
grep -q 'Login: user=<alice>, method=XOAUTH2' "$DC_LOG" ||
    fail "Dovecot did not log an XOAUTH2 login"
[ "$(oauth_stats introspect)" -gt "$introspected" ] ||
    fail "Dovecot did not ask the introspection endpoint"

# 2. OAUTHBEARER, with new mail
python3 "$PF_LIB/mailgen.py" --maildir "$DC_MAILDIR" \
    --manifest "$T/manifest2.json" --plain --count 2 --start 100 ||
    fail "mailgen.py failed"
dovecot_chown
fetch o1 oauthbearer
assert_rc o1 0
[ "$(maildir_count "$T/Maildir")" -eq 5 ] || fail "OAUTHBEARER run: mail missing"
grep -q 'Login: user=<alice>, method=OAUTHBEARER' "$DC_LOG" ||
    fail "Dovecot did not log an OAUTHBEARER login"

# 3. a token Dovecot does not know: refused
(umask 077 && echo "not-a-token-$RANDOM" >"$T/st/token.bad")
pf_run_raw bad --host 127.0.0.1 --port "$DC_POP3S_PORT" --user "$DC_USER" \
    --auth=xoauth2 --password-command "cat $T/st/token.bad" \
    --ca-file "$DC_CA" --state-dir "$T/state" --timeout 30 \
    --maildir "$T/Maildir"
assert_rc bad 77

# 4. the access token revoked at the server: refused, for both mechanisms
oauth_revoke "$(cat "$T/st/token")" access_token || fail "revoke failed"
fetch x2 xoauth2 "$other"
assert_rc x2 77
fetch o2 oauthbearer
assert_rc o2 77

# 5. a fresh token after the revocation works again
oauth_cli tok2 "${base[@]}" --out "$T/st/token" --margin 100000 token
[ "$OC_RC" -eq 0 ] || { show tok2; fail "refresh exited $OC_RC"; }
fetch x3 xoauth2 "$other"
assert_rc x3 0

oauth_assert_no_tokens "$T"/*.out "$T"/*.err
for f in "$T"/state/*; do
	[ -f "$f" ] && oauth_assert_no_tokens "$f"
done
pass
