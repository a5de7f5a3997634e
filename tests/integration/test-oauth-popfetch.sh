#!/bin/bash
# test-oauth-popfetch.sh: OAuth 2.0 through popfetch itself (issue 18):
# `popfetch --authorize` by device code (authorization_pending, then
# slow_down) and by browser (this script plays the browser; a redirect
# with the wrong state is refused, 77, nothing stored), then real POP3
# logins to Dovecot, which checks each token with its oauth2 passdb
# against the local authorization server: auth auto (OAUTHBEARER) and
# --auth=xoauth2; the cached access token reused, refreshed on expiry,
# the rotated refresh token persisted across runs; a refresh token in its
# last week warns once; a confidential client's secret comes from
# oauth2_client_secret_command (a wrong one is 78); a revoked refresh
# token is 77 with the --authorize hint; a token the server rejects is 77 with its text; a
# token endpoint answering 500, malformed or oversized JSON, too slowly,
# or not at all is 75 and leaves the token file alone. No token in any
# output (-vv too), in the state files, or in popfetch's argv.

. "$(dirname "$0")/../lib/common.sh"
. "$PF_LIB/oauth.sh"

pf_init
oauth_trap
bash "$PF_SRCDIR/tests/tls/mkcerts.sh" "$T/certs" || fail "mkcerts.sh failed"
export PF_CERTCACHE=$T/certs
oauth_start "$T/oa" --interval 1 || fail "cannot start the authorization server"
pf_server --oauth2 "https://dovecot:dovecot-secret@127.0.0.1:$OA_PORT/introspect"
# the token endpoint is checked against the system trust store
export SSL_CERT_FILE=$OA_CA
pf_mailgen --plain --count 3

cat >"$T/config" <<CONF
account mail
  host 127.0.0.1
  port $DC_POP3S_PORT
  user $DC_USER
  ca_file $DC_CA
  timeout 20
  state_dir $T/state
  maildir $T/Maildir
  oauth2_provider generic
  oauth2_client_id popfetch-test
  oauth2_scope "pop3 offline_access"
  oauth2_token_url $OA_URL/token
  oauth2_device_url $OA_URL/device
  oauth2_authorize_url $OA_URL/authorize
account conf
  host localhost
  port $DC_POP3S_PORT
  user $DC_USER
  ca_file $DC_CA
  timeout 20
  state_dir $T/state
  maildir $T/Maildir3
  oauth2_provider generic
  oauth2_client_id popfetch-conf
  oauth2_client_secret_command cat $T/client-secret
  oauth2_scope "pop3 offline_access"
  oauth2_token_url $OA_URL/token
  oauth2_device_url $OA_URL/device
account plain
  host 127.0.0.1
  user bob
  maildir $T/Maildir2
CONF
store=

# run NAME ARGS...: popfetch with the config
run() {
	local name=$1
	shift
	pf_run_raw "$name" -C "$T/config" "$@"
}

# expire: make the stored access token look expired
expire() {
	"$OA_PYTHON" - "$store" <<'PY' || fail "cannot edit the token file"
import json, sys
p = sys.argv[1]
d = json.load(open(p))
d["expires_at"] = 1000
open(p, "w").write(json.dumps(d))
PY
}

# 0. before --authorize: 77 and the hint
run none mail
assert_rc none 77
grep -q 'popfetch --authorize mail' "$T/none.err" ||
    { show none; fail "no --authorize hint without tokens"; }

# --serverinfo needs no token: it shows what comes before a login
run si0 --serverinfo mail
assert_rc si0 0
grep -q 'SASL' "$T/si0.out" || { show si0; fail "--serverinfo showed no SASL"; }

# an account without a provider, two accounts, an unknown flow
run noprov --authorize plain
assert_rc noprov 78
grep -q "has no oauth2_provider" "$T/noprov.err" || { show noprov; fail "no hint"; }
run two --authorize mail plain
assert_rc two 64
run badflow --authorize=tv mail
assert_rc badflow 64

# 1. --authorize (the device flow: the generic preset with a device URL)
oauth_ctl device_pending=2 device_slow_down=1 || fail "oauth_ctl"
run auth1 --authorize mail
assert_rc auth1 0
grep -qE '^  https://127\.0\.0\.1:[0-9]+/device-verify$' "$T/auth1.out" ||
    { show auth1; fail "no verification URL shown"; }
grep -qE '^  [0-9A-F]{4}-[0-9A-F]{4}$' "$T/auth1.out" ||
    { show auth1; fail "no user code shown"; }
[ "$(oauth_stats device_polls | tr -cd ',' | wc -c)" -eq 3 ] ||
    fail "expected 4 polls (2 pending, 1 slow_down): $(oauth_stats device_polls)"
[ "$(oauth_stats too_fast)" -eq 0 ] || fail "polled too fast"
store=$(find "$T/state/oauth" -name 'mail.json')
[ -f "$store" ] || fail "no token file under state_dir/oauth"
[ "$(stat -c %a "$store")" = 600 ] || fail "token file not 0600"
[ "$(stat -c %a "$T/state/oauth")" = 700 ] || fail "token directory not 0700"
[ "$(stat -c %u "$store")" = "$(id -u)" ] || fail "token file not ours"
oauth_ctl device_pending=0 device_slow_down=0 || fail "oauth_ctl"

# 2. a fetch with auth auto: OAUTHBEARER, checked by Dovecot
introspected=$(oauth_stats introspect)
run f1 -vv mail
assert_rc f1 0
verify --maildir "$T/Maildir" || fail "mail not delivered"
grep -q 'Login: user=<alice>, method=OAUTHBEARER' "$DC_LOG" ||
    fail "Dovecot did not log an OAUTHBEARER login"
[ "$(oauth_stats introspect)" -gt "$introspected" ] ||
    fail "Dovecot did not ask the introspection endpoint"
[ "$(oauth_stats refresh)" -eq 0 ] || fail "refreshed a fresh access token"

# 3. --auth=xoauth2, the cached access token again
python3 "$PF_LIB/mailgen.py" --maildir "$DC_MAILDIR" \
    --manifest "$T/manifest2.json" --plain --count 2 --start 100 ||
    fail "mailgen.py failed"
dovecot_chown
run f2 -vv --auth=xoauth2 mail
assert_rc f2 0
[ "$(maildir_count "$T/Maildir")" -eq 5 ] || fail "XOAUTH2 run: mail missing"
grep -q 'Login: user=<alice>, method=XOAUTH2' "$DC_LOG" ||
    fail "Dovecot did not log an XOAUTH2 login"
[ "$(oauth_stats refresh)" -eq 0 ] || fail "refreshed a fresh access token"

# 3a. a user's own token helper (password_command) still wins over the
# token file, and auth auto still picks OAuth for it
(umask 077 && oauth_json "$store" access_token >"$T/helper-token")
mv "$store" "$store.away"
run h1 --password-command "cat $T/helper-token" mail
assert_rc h1 0
mv "$store.away" "$store"
[ "$(grep -c 'method=OAUTHBEARER' "$DC_LOG")" -ge 2 ] ||
    fail "auth auto did not use OAUTHBEARER with password_command"

# 3b. a confidential client: the secret from oauth2_client_secret_command
# goes to the token endpoint, for the grant and for a refresh; a wrong one
# is a config error (78)
(umask 077 && echo conf-secret >"$T/client-secret")
run c1 --authorize conf
assert_rc c1 0
run c2 -vv conf
assert_rc c2 0
cstore=$(find "$T/state/oauth" -name 'conf.json')
[ -f "$cstore" ] || fail "no token file for the second account"
echo wrong-secret >"$T/client-secret"
store=$cstore expire
run c3 conf
assert_rc c3 78
grep -q 'oauth2_client_secret_command' "$T/c3.err" || { show c3; fail "no hint"; }
echo conf-secret >"$T/client-secret"
run c4 conf
assert_rc c4 0
! grep -q 'conf-secret' "$T"/c*.err "$T"/c*.out || fail "the client secret was printed"
refreshes=$(oauth_stats refresh)

# 4. expiry: a refresh, the rotated refresh token stored before use; a
# stated refresh-token lifetime inside the last week warns, once a day
oauth_ctl refresh_stated_ttl=259200 || fail "oauth_ctl"
rt0=$(oauth_json "$store" refresh_token)
expire
run r1 -vv mail
assert_rc r1 0
[ "$(oauth_stats refresh)" -eq $((refreshes + 1)) ] || fail "no refresh on expiry"
rt1=$(oauth_json "$store" refresh_token)
if [ -z "$rt1" ] || [ "$rt1" = "$rt0" ]; then
	fail "rotated refresh token not stored"
fi
[ "$(stat -c %a "$store")" = 600 ] || fail "token file not 0600 after refresh"
grep -q 'warning: .*refresh token .*expires' "$T/r1.err" ||
    { show r1; fail "no refresh-token expiry warning"; }
expire
run r2 mail
assert_rc r2 0
[ "$(oauth_stats refresh)" -eq $((refreshes + 2)) ] || fail "second refresh missing"
[ "$(oauth_json "$store" refresh_token)" != "$rt1" ] ||
    fail "second rotation not stored"
grep -q 'expires' "$T/r2.err" && { show r2; fail "warned twice in one day"; }
oauth_ctl refresh_stated_ttl=0 || fail "oauth_ctl"
# the retired refresh token is refused by the server: only the stored
# (rotated) one could have worked in r2

# 5. a token the POP3 server rejects: 77 with the server's text
oauth_revoke "$(oauth_json "$store" access_token)" access_token ||
    fail "revoke failed"
run rej mail
assert_rc rej 77
grep -qi 'authentication failed\|rejected\|auth' "$T/rej.err" ||
    { show rej; fail "no server text for a rejected token"; }

# 6. the token endpoint fails: 75, token file unchanged
cp -p "$store" "$T/store.before"
expire
cp -p "$store" "$T/store.expired"
for mode in http500 malformed oversized; do
	oauth_ctl mode=$mode mode_count=-1 || fail "oauth_ctl"
	run "ep-$mode" mail
	assert_rc "ep-$mode" 75
	cmp -s "$store" "$T/store.expired" || fail "$mode changed the token file"
done
oauth_ctl mode=slow slow_seconds=8 || fail "oauth_ctl"
t0=$SECONDS
{ run ep-slow --timeout 2 mail; exit "$PF_RC"; } &
spid=$!
sleep 1
# popfetch's argv and environment hold no token while it waits
for p in $(pgrep -f "$T/config" || true); do
	tr '\0' '\n' <"/proc/$p/cmdline" >>"$T/argv.txt" 2>/dev/null || true
done
wait "$spid"
PF_RC=$?
[ -s "$T/argv.txt" ] || fail "could not read popfetch's argv"
assert_rc ep-slow 75
((SECONDS - t0 < 7)) || fail "the slow endpoint was waited for"
oauth_ctl mode=normal || fail "oauth_ctl"

# 7. the refresh token revoked: 77 and the hint
oauth_revoke "$(oauth_json "$store" refresh_token)" refresh_token ||
    fail "revoke failed"
run revoked mail
assert_rc revoked 77
grep -q 'run popfetch --authorize mail' "$T/revoked.err" ||
    { show revoked; fail "no --authorize hint for a revoked refresh token"; }

# 8. --authorize=browser: a wrong state is refused, then the real one
param() {
	"$OA_PYTHON" -c 'import sys, urllib.parse as u
print(dict(u.parse_qsl(u.urlparse(sys.argv[1]).query)).get(sys.argv[2], ""))' \
	    "$1" "$2"
}
# browser NAME: start the browser flow; sets BPID, URL
browser() {
	: >"$T/$1.out"
	{ run "$1" --authorize=browser mail; exit "$PF_RC"; } &
	BPID=$!
	URL=
	for _ in $(seq 1 100); do
		URL=$(sed -n 's|^  \(https://.*\)$|\1|p' "$T/$1.out")
		[ -n "$URL" ] && break
		sleep 0.1
	done
	[ -n "$URL" ] || { show "$1"; fail "no authorization URL printed"; }
}
# approve: the server approves; prints where it sends the browser
approve() {
	local reply
	reply=$(oauth_get "$URL") || fail "the authorization endpoint failed"
	set -- $reply
	[ "$1" = 302 ] || fail "authorization endpoint answered '$reply'"
	printf '%s\n' "$2"
}
cp -p "$store" "$T/store.revoked"
browser b1
loc=$(approve)
state=$(param "$loc" state)
bad=${loc/state=$state/state=AAAAAAAAAAAAAAAAAAAAAA}
[ "$bad" != "$loc" ] || fail "could not change the state"
oauth_get "$bad" >/dev/null
wait "$BPID"
PF_RC=$?
assert_rc b1 77
grep -q 'state' "$T/b1.err" || { show b1; fail "no word about the state"; }
cmp -s "$store" "$T/store.revoked" || fail "a wrong state changed the tokens"
browser b2
loc=$(approve)
page=$(oauth_get "$loc")
wait "$BPID"
PF_RC=$?
assert_rc b2 0
[ "${page%% *}" = 200 ] || fail "the listener answered '$(head -1 <<<"$page")'"
run f3 -vv mail
assert_rc f3 0

oauth_assert_no_tokens "$T"/*.out "$T"/*.err "$T/argv.txt"
for f in "$T"/state/*; do
	[ -f "$f" ] && oauth_assert_no_tokens "$f"
done

# 9. the token endpoint down: 75
expire
oauth_stop
run down mail
assert_rc down 75
pass
