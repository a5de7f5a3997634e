#!/bin/bash
# test-oauth-browser.sh: the authorization code grant with PKCE S256 and
# a loopback redirect (RFC 7636, RFC 8252) against the local authorization
# server, with this script playing the browser: it opens the printed URL
# (the server approves and redirects), then follows the redirect to the
# listener on 127.0.0.1. A stray request first is answered 404 and the
# wait goes on; a redirect with the wrong state is refused (77, nothing
# stored); a denial is 77; nobody coming back is 75 at the deadline.

. "$(dirname "$0")/../lib/common.sh"
. "$PF_LIB/oauth.sh"

pf_init --no-binary
oauth_trap
OAUTH_CLI=${OAUTH_CLI:-$PF_BUILDDIR/tests/oauth-cli}
[ -x "$OAUTH_CLI" ] || fail "no oauth-cli at '$OAUTH_CLI'"
oauth_start "$T/oa" || fail "cannot start the authorization server"
mkdir -m 700 "$T/st"
read -r -a EP < <(oauth_endpoints)
base=(--account mail --client-id popfetch-test --scope "pop3 offline_access"
    "${EP[@]}" --flow browser --browser-wait 30)

# start NAME STORE: run the browser flow in the background; sets BPID and
# URL (the authorization URL it printed).
start() {
	{
		oauth_cli "$1" --store "$2" "${base[@]}" authorize
		exit "$OC_RC"
	} &
	BPID=$!
	URL=
	for _ in $(seq 1 100); do
		URL=$(sed -n 's/^OPEN //p' "$T/$1.out" 2>/dev/null)
		[ -n "$URL" ] && break
		sleep 0.1
	done
	[ -n "$URL" ] || { show "$1"; fail "no authorization URL printed"; }
}

# finish: wait for the background flow; sets RC.
finish() {
	wait "$BPID"
	RC=$?
}

# param URL NAME: one query parameter of URL.
param() {
	"$OA_PYTHON" -c 'import sys, urllib.parse as u
print(dict(u.parse_qsl(u.urlparse(sys.argv[1]).query)).get(sys.argv[2], ""))' \
	    "$1" "$2"
}

# approve URL: play the browser at the server; prints the redirect target.
approve() {
	local reply
	reply=$(oauth_get "$1") || fail "the authorization endpoint failed"
	set -- $reply
	[ "$1" = 302 ] || fail "authorization endpoint answered '$reply'"
	printf '%s\n' "$2"
}

# 1. the whole flow, with a stray request first
start b1 "$T/st/oauth/mail.json"
[ "$(param "$URL" code_challenge_method)" = S256 ] || fail "no S256"
[ "$(param "$URL" response_type)" = code ] || fail "no response_type=code"
redirect=$(param "$URL" redirect_uri)
case $redirect in
http://127.0.0.1:[0-9]*/) ;;
*) fail "redirect_uri '$redirect' is not a loopback listener" ;;
esac
[ "$(param "$URL" state | wc -c)" -gt 16 ] || fail "state too short"
stray=$(oauth_get "${redirect}favicon.ico")
[ "${stray%% *}" = 404 ] || fail "a stray request got '$stray'"
loc=$(approve "$URL")
case $loc in
"$redirect"\?*) ;;
*) fail "the server redirected to '$loc'" ;;
esac
page=$(oauth_get "$loc")
finish
[ "$RC" -eq 0 ] || { show b1; fail "browser flow exited $RC"; }
[ "${page%% *}" = 200 ] || fail "the listener answered '$(head -1 <<<"$page")'"
grep -q 'authorization received' <<<"$page" || fail "no success page"
[ "$(stat -c %a "$T/st/oauth/mail.json")" = 600 ] || fail "token file not 0600"
[ -n "$(oauth_json "$T/st/oauth/mail.json" refresh_token)" ] ||
    fail "no refresh token stored"
# the code was traded with the verifier: PKCE is required by the server,
# which checked code_verifier against code_challenge
[ "$(oauth_stats grants | tr -d ' ')" = '{"authorization_code":1}' ] ||
    fail "expected one authorization_code grant: $(oauth_stats grants)"

# 2. a redirect that carries another state is refused
start b2 "$T/st/oauth/evil.json"
loc=$(approve "$URL")
state=$(param "$loc" state)
bad=${loc/state=$state/state=AAAAAAAAAAAAAAAAAAAAAA}
[ "$bad" != "$loc" ] || fail "could not change the state"
page=$(oauth_get "$bad")
finish
[ "${page%% *}" = 400 ] || fail "a wrong state got '$(head -1 <<<"$page")'"
[ "$RC" -eq 77 ] || { show b2; fail "wrong state exited $RC, not 77"; }
grep -q 'state' "$T/b2.err" || { show b2; fail "no word about the state"; }
[ ! -e "$T/st/oauth/evil.json" ] || fail "tokens stored after a wrong state"
# and the code was never traded
[ "$(oauth_stats grants | tr -d ' ')" = '{"authorization_code":1}' ] ||
    fail "a code with a wrong state was traded"

# 3. the user says no at the provider
oauth_ctl deny=true
start b3 "$T/st/oauth/no.json"
loc=$(approve "$URL")
[ "$(param "$loc" error)" = access_denied ] || fail "no access_denied: $loc"
oauth_get "$loc" >/dev/null
finish
[ "$RC" -eq 77 ] || { show b3; fail "denial exited $RC, not 77"; }
grep -q 'denied' "$T/b3.err" || { show b3; fail "no 'denied' message"; }
oauth_ctl deny=false

# 4. nobody comes back: the listener gives up at its deadline
base=(--account mail --client-id popfetch-test --scope pop3 "${EP[@]}"
    --flow browser --browser-wait 2)
start b4 "$T/st/oauth/late.json"
finish
[ "$RC" -eq 75 ] || { show b4; fail "no answer exited $RC, not 75"; }
grep -q 'popfetch --authorize mail' "$T/b4.err" || { show b4; fail "no hint"; }

oauth_assert_no_tokens "$T"/b*.out "$T"/b*.err
pass
