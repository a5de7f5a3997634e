#!/bin/bash
# test-oauth-refresh.sh: the access token of a run, against the local
# authorization server with short-lived access tokens and rotating refresh
# tokens. A valid cached token is used without asking the server; an
# expired one is refreshed and the rotated refresh token is stored (the
# old one is dead at the server, so a run that did not store it would
# fail next time); rotation carries on across runs; the last week of a
# stated refresh-token lifetime warns once a day; a crash right after the
# store leaves a usable state (fault builds); a revoked refresh token
# gives 77 and the --authorize hint.

. "$(dirname "$0")/../lib/common.sh"
. "$PF_LIB/oauth.sh"

pf_init --no-binary
oauth_trap
OAUTH_CLI=${OAUTH_CLI:-$PF_BUILDDIR/tests/oauth-cli}
[ -x "$OAUTH_CLI" ] || fail "no oauth-cli at '$OAUTH_CLI'"
oauth_start "$T/oa" --access-ttl 4 || fail "cannot start the authorization server"
mkdir -m 700 "$T/st"
store=$T/st/oauth/acct.json
read -r -a EP < <(oauth_endpoints)
base=(--store "$store" --account acct --client-id popfetch-test
    --scope "pop3 offline_access" "${EP[@]}")

# token NAME [options]: an access token into $T/NAME.tok
token() {
	local name=$1
	shift
	oauth_cli "$name" "${base[@]}" --out "$T/$name.tok" "$@" token
}
refreshes() {
	oauth_stats refresh
}
stored() {
	oauth_json "$store" "$1"
}
last_issued_refresh() {
	oauth_stats issued_refresh | "$OA_PYTHON" -c \
	    'import json, sys; print(json.load(sys.stdin)[-1])'
}

oauth_cli auth "${base[@]}" --flow device authorize
[ "$OC_RC" -eq 0 ] || { show auth; fail "authorization exited $OC_RC"; }
at1=$(stored access_token)
rt1=$(stored refresh_token)
cp "$store" "$T/st/oauth/old.json"

# 1. valid with the margin: the cached token, no request at all
token t1 --margin 1
[ "$OC_RC" -eq 0 ] || { show t1; fail "cached token exited $OC_RC"; }
[ "$(cat "$T/t1.tok")" = "$at1" ] || fail "not the cached access token"
[ "$(refreshes)" = 0 ] || fail "refreshed a token that was still valid"

# 2. expired: refreshed, and the rotated refresh token stored
sleep 4
token t2 --margin 1
[ "$OC_RC" -eq 0 ] || { show t2; fail "refresh exited $OC_RC"; }
at2=$(stored access_token)
rt2=$(stored refresh_token)
[ "$(refreshes)" = 1 ] || fail "expected one refresh, got $(refreshes)"
[ "$(cat "$T/t2.tok")" = "$at2" ] || fail "handed out a token it did not store"
[ "$at2" != "$at1" ] || fail "the access token did not change"
[ "$rt2" != "$rt1" ] || fail "the rotated refresh token was not stored"
[ "$rt2" = "$(last_issued_refresh)" ] || fail "stored refresh token is not the newest"
[ "$(stat -c %a "$store")" = 600 ] || fail "token file not 0600 after rewrite"
[ ! -e "$store.tmp" ] || fail "temp file left behind"

# the old refresh token died with the rotation: a run still holding it
# is told to authorize again
oauth_cli old "${base[@]/$store/$T/st/oauth/old.json}" \
    --out "$T/old.tok" --margin 100000 token
[ "$OC_RC" -eq 77 ] || { show old; fail "rotated-out token exited $OC_RC, not 77"; }
grep -q 'popfetch --authorize acct' "$T/old.err" || { show old; fail "no hint"; }

# 3. rotation persists across runs: the stored token keeps working
for i in 3 4; do
	token "t$i" --margin 100000
	[ "$OC_RC" -eq 0 ] || { show "t$i"; fail "refresh $i exited $OC_RC"; }
	[ "$(stored refresh_token)" = "$(last_issued_refresh)" ] ||
	    fail "refresh $i: stored refresh token is not the newest"
done

# 4. a stated lifetime in its last week: one warning a day
oauth_ctl refresh_stated_ttl=259200
token t5 --margin 100000
[ "$OC_RC" -eq 0 ] || { show t5; fail "t5 exited $OC_RC"; }
grep -q '^warning: .*expires on .*popfetch --authorize acct' "$T/t5.err" ||
    { show t5; fail "no expiry warning"; }
[ "$(stored last_warned)" -gt 0 ] || fail "warning time not stored"
token t6 --margin 100000
[ "$OC_RC" -eq 0 ] || { show t6; fail "t6 exited $OC_RC"; }
if grep -q warning "$T/t6.err"; then
	fail "warned twice the same day"
fi
oauth_ctl refresh_stated_ttl=0

# 5. a crash right after the store: the next run is fine (fault builds)
if "$OAUTH_CLI" --fault-build; then
	before=$(refreshes)
	POPFETCH_FAULT_AT=oauth-saved token t7 --margin 100000
	[ "$OC_RC" -eq 137 ] || { show t7; fail "fault point not reached ($OC_RC)"; }
	[ "$(refreshes)" = $((before + 1)) ] || fail "t7 did not refresh"
	[ "$(stored refresh_token)" = "$(last_issued_refresh)" ] ||
	    fail "the crash lost the rotated refresh token"
	token t8 --margin 1
	[ "$OC_RC" -eq 0 ] || { show t8; fail "run after the crash exited $OC_RC"; }
	[ "$(cat "$T/t8.tok")" = "$(stored access_token)" ] ||
	    fail "run after the crash did not use the stored token"
	[ "$(refreshes)" = $((before + 1)) ] || fail "t8 refreshed needlessly"
else
	note "not a fault build: crash check skipped"
fi

# 6. revoked: 77 and the hint
oauth_revoke "$(stored refresh_token)" refresh_token || fail "revoke failed"
token t9 --margin 100000
[ "$OC_RC" -eq 77 ] || { show t9; fail "revoked token exited $OC_RC, not 77"; }
grep -q 'invalid_grant.*popfetch --authorize acct' "$T/t9.err" ||
    { show t9; fail "no invalid_grant hint"; }
[ "$(wc -l <"$T/t9.err")" -eq 1 ] || { show t9; fail "more than one line"; }

oauth_assert_no_tokens "$T"/*.out "$T"/*.err
pass
