#!/bin/bash
# A server that stops sending: --timeout 2 gives exit 75 within about 5 s,
# whether it hangs before the greeting or in the middle of a message, and
# a later run delivers everything exactly once.
. "$(dirname "$0")/../lib/common.sh"
pf_init
pf_server
pf_mailgen --count 12 --plain --size 100000:100000 --seed 61

# The account is user@host:port, so every run uses the same proxy port.
port=0
for at in 0 600000; do
	proxy_start --listen-port "$port" --stall-after-bytes "$at"
	port=$PROXY_PORT
	PF_TIMEOUT=2 PF_PORT=$PROXY_PORT pf_run "stall$at" --maildir "$T/mail"
	assert_rc "stall$at" 75
	awk -v s="$PF_SECS" 'BEGIN { exit !(s < 5.5) }' ||
	    fail "stalled after $at bytes: took ${PF_SECS}s (want about 2)"
	grep -q "stalled after $at bytes" "$T/proxy.log" || fail "the proxy did not stall at $at"
	grep -q '^popfetch: ' "$T/stall$at.err" || { show "stall$at"; fail "no 'popfetch: ' error line"; }
	[ "$(maildir_tmp_count "$T/mail")" -eq 0 ] || fail "tmp/ is not empty after a timeout"
	verify --maildir "$T/mail" --allow-missing-from-server-dir "$DC_MAILDIR" ||
	    fail "after the stall at $at: partial, lost or duplicated messages"
	proxy_stop
done

proxy_start --listen-port "$port"
PF_PORT=$PROXY_PORT pf_run rest --maildir "$T/mail"
assert_rc rest 0
verify --maildir "$T/mail" || fail "the rerun did not complete the corpus exactly"
pass
