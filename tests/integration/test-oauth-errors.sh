#!/bin/bash
# test-oauth-errors.sh: a failing token endpoint during a refresh. HTTP
# 500, malformed JSON, oversized JSON, an HTML page, a slow endpoint
# (the whole-exchange deadline) and an endpoint that is down are all
# temporary (75) and leave the stored tokens as they were; a redirect is
# never followed and is a config error (78); a chunked reply is fine.

. "$(dirname "$0")/../lib/common.sh"
. "$PF_LIB/oauth.sh"

pf_init --no-binary
oauth_trap
OAUTH_CLI=${OAUTH_CLI:-$PF_BUILDDIR/tests/oauth-cli}
[ -x "$OAUTH_CLI" ] || fail "no oauth-cli at '$OAUTH_CLI'"
oauth_start "$T/oa" || fail "cannot start the authorization server"
mkdir -m 700 "$T/st"
store=$T/st/oauth/acct.json
read -r -a EP < <(oauth_endpoints)
base=(--store "$store" --account acct --client-id popfetch-test
    --scope pop3 "${EP[@]}" --timeout-ms 3000)

oauth_cli auth "${base[@]}" --flow device authorize
[ "$OC_RC" -eq 0 ] || { show auth; fail "authorization exited $OC_RC"; }

# refresh NAME MODE WANT: one forced refresh while the endpoint is in MODE
refresh() {
	local sum
	sum=$(sha256sum <"$store")
	oauth_ctl mode="$2" mode_count=-1 || fail "oauth_ctl"
	oauth_cli "$1" "${base[@]}" --out "$T/$1.tok" --margin 100000 token
	[ "$OC_RC" -eq "$3" ] || { show "$1"; fail "$2: exited $OC_RC, not $3"; }
	if [ "$3" -ne 0 ]; then
		[ "$sum" = "$(sha256sum <"$store")" ] ||
		    fail "$2: the stored tokens changed"
		[ ! -e "$T/$1.tok" ] || fail "$2: a token was handed out"
		[ "$(wc -l <"$T/$1.err")" -eq 1 ] ||
		    { show "$1"; fail "$2: more than one line"; }
	fi
	oauth_ctl mode=normal
}

refresh e500 http500 75
grep -q 'HTTP 500' "$T/e500.err" || { show e500; fail "no status in message"; }
refresh emal malformed 75
grep -q 'not valid JSON' "$T/emal.err" || { show emal; fail "no JSON message"; }
refresh ebig oversized 75
grep -q 'longer than' "$T/ebig.err" || { show ebig; fail "no size message"; }
refresh ehtml html200 75
refresh eredir redirect 78
grep -q "redirect to 'https://elsewhere.example/token'" "$T/eredir.err" ||
    { show eredir; fail "the redirect target is not named"; }

oauth_ctl slow_seconds=8
refresh eslow slow 75
awk -v s="$OC_SECS" 'BEGIN { exit !(s < 6) }' ||
    fail "the 3 s deadline took ${OC_SECS}s"
grep -q 'timed out' "$T/eslow.err" || { show eslow; fail "no timeout message"; }

# a chunked reply is a reply like any other
refresh echunk chunked 0
[ "$(cat "$T/echunk.tok")" = "$(oauth_json "$store" access_token)" ] ||
    fail "chunked: the stored and handed-out tokens differ"

# the endpoint is down
sum=$(sha256sum <"$store")
oauth_assert_no_tokens "$T"/*.out "$T"/*.err
oauth_stop
oauth_cli edown "${base[@]}" --out "$T/edown.tok" --margin 100000 token
[ "$OC_RC" -eq 75 ] || { show edown; fail "endpoint down exited $OC_RC, not 75"; }
grep -q 'cannot connect' "$T/edown.err" || { show edown; fail "no connect message"; }
[ "$sum" = "$(sha256sum <"$store")" ] || fail "down: the stored tokens changed"
pass
