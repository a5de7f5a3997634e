# shellcheck shell=bash disable=SC2034
# crash.sh: helpers for the crash and reset loops (source after common.sh).
#
#   crash_setup KIND SEED COUNT   fresh Dovecot + corpus; KIND maildir|mbox;
#                                 sets CR_TARGET (popfetch args) and
#                                 CR_MANIFESTS (manifests written so far)
#   crash_delivered               messages in the target (new/+cur/ or
#                                 "From " lines of the mbox)
#   crash_verify [verify.py args] verify.py against every manifest; a
#                                 Maildir is checked through a view of new/
#                                 and cur/ only, since a kill -9 may leave
#                                 a file in tmp/ (never a partial message
#                                 in new/: that is what is checked)
#   crash_refill N                add N messages (a new manifest) when the
#                                 server ran dry before enough faults
#   crash_avg_wire                average wire length of the corpus

# crash_setup KIND SEED COUNT: start a new Dovecot with a fresh corpus.
crash_setup() {
	CR_KIND=$1
	CR_PPORT=
	dovecot_stop
	rm -rf "$T/dc" "$T/state" "$T/md" "$T/view" "$T/box" "$T"/extra*.json
	pf_server
	pf_mailgen --count "$3" --seed "$2"
	CR_MANIFESTS=("$T/manifest.json")
	CR_NEXT_ID=$(($3 + 1000))
	if [ "$CR_KIND" = maildir ]; then
		CR_TARGET=(--maildir "$T/md")
		mkdir -p "$T/view/tmp"
		ln -s "$T/md/new" "$T/view/new"
		ln -s "$T/md/cur" "$T/view/cur"
	else
		CR_TARGET=(--mbox "$T/box")
	fi
}

# crash_delivered: print how many messages the target holds.
crash_delivered() {
	if [ "$CR_KIND" = maildir ]; then
		maildir_count "$T/md"
	elif [ -f "$T/box" ]; then
		grep -c '^From ' "$T/box" || true
	else
		echo 0
	fi
}

# crash_verify [args]: verify.py with every manifest against the target.
crash_verify() {
	local m margs=()

	for m in "${CR_MANIFESTS[@]}"; do
		margs+=(--manifest "$m")
	done
	if [ "$CR_KIND" = maildir ]; then
		local view="$T/view"
		if [ ! -d "$T/md/new" ]; then
			view="$T/empty-md"
			mkdir -p "$view/new" "$view/cur" "$view/tmp"
		fi
		python3 "$PF_LIB/verify.py" "${margs[@]}" --maildir "$view" \
		    --quiet "$@"
	else
		[ -f "$T/box" ] || : >"$T/box"
		python3 "$PF_LIB/verify.py" "${margs[@]}" --mbox "$T/box" \
		    --quiet "$@"
	fi
}

# crash_refill N: put N more messages on the server, with a new manifest.
crash_refill() {
	local m="$T/extra${#CR_MANIFESTS[@]}.json"

	python3 "$PF_LIB/mailgen.py" --maildir "$DC_MAILDIR" --manifest "$m" \
	    --count "$1" --plain --start "$CR_NEXT_ID" --seed "$CR_NEXT_ID" ||
	    fail "mailgen.py failed"
	dovecot_chown
	CR_MANIFESTS+=("$m")
	CR_NEXT_ID=$((CR_NEXT_ID + $1))
}

# crash_avg_wire: the corpus' average wire length in bytes.
crash_avg_wire() {
	python3 -c 'import json, sys
m = json.load(open(sys.argv[1]))["messages"]
print(sum(x["wire_length"] for x in m) // len(m))' "$T/manifest.json"
}

# crash_tmp_left: files a killed run left in the Maildir's tmp/ (0 for mbox).
crash_tmp_left() {
	if [ "$CR_KIND" = maildir ]; then
		maildir_tmp_count "$T/md"
	else
		echo 0
	fi
}

# crash_proxy [faultproxy options]: start a fault proxy on the same port
# every time (the account's identity, user@host:port, and so its state
# must not change between runs); stop it with proxy_stop.
crash_proxy() {
	proxy_start --listen-port "${CR_PPORT:-0}" "$@"
	if [ -n "${CR_PPORT:-}" ] && [ "$PROXY_PORT" != "$CR_PPORT" ]; then
		fail "the proxy did not get port $CR_PPORT again"
	fi
	CR_PPORT=$PROXY_PORT
}
