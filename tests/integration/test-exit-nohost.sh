#!/bin/bash
# A host name that does not exist is permanent (issue 13 item 6): the
# resolver's "no such name" (NXDOMAIN) and "no data" answers exit 68 with
# one line that names the host, and popfetch connects nowhere; a resolver
# that cannot answer stays 75. The answers come from the hostshim
# (tests/hostshim), so no DNS is needed: names under .invalid (RFC 2606).
# The proxy's host name gets the same treatment.
. "$(dirname "$0")/../lib/common.sh"
pf_init
SHIM=${HOSTSHIM:-$PF_BUILDDIR/tests/libhostshim.so}
[ -f "$SHIM" ] || fail "no hostshim at '$SHIM' (build the tests)"
HOSTS="typo.invalid=!noname nodata.invalid=!nodata down.invalid=!again"

# run NAME HOST ARGS...: popfetch for HOST under the shim.
run() {
	local name=$1 host=$2
	shift 2
	PF_HOSTS=$HOSTS LD_PRELOAD=$SHIM \
	    ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
	    pf_run_raw "$name" --host "$host" --user alice \
	    --password-command "echo pw" --state-dir "$T/state" \
	    --maildir "$T/Maildir" --timeout 5 "$@"
}

for how in typo nodata; do
	run "$how" "$how.invalid"
	assert_rc "$how" 68
	[ "$(wc -l <"$T/$how.err")" -eq 1 ] || { show "$how"; fail "$how: not one line"; }
	grep -q "^popfetch: '$how.invalid' does not exist (.*); check the host name\$" \
	    "$T/$how.err" || { show "$how"; fail "$how: no clear line"; }
done
run down down.invalid
assert_rc down 75
grep -q "cannot resolve 'down.invalid'" "$T/down.err" ||
    { show down; fail "a failing resolver: no 'cannot resolve' line"; }
run proxy localhost --proxy socks5://typo.invalid:1080
assert_rc proxy 68
grep -q "proxy 'typo.invalid' does not exist" "$T/proxy.err" ||
    { show proxy; fail "the proxy's missing name is not said"; }
pass
