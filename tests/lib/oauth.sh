# oauth.sh: a throwaway OAuth 2.0 authorization server for tests (source
# this file). It runs tests/lib/oauth_server.py (python3-oauthlib) over
# HTTPS on a free loopback port, with a certificate from the test PKI
# (tests/tls/mkcerts.sh), and is stopped by pid.
#
#   oauth_start DIR [oauth_server.py serve options]
#       certificates come from $PF_CERTCACHE when it holds localhost.pem
#       (share it with dovecot_start, which copies from there too), else
#       they are made in DIR/certs
#   sets OA_DIR OA_PID OA_PORT OA_URL OA_CA OA_LOG OA_PYTHON
#   oauth_stop                  stop it (kill by pid, then wait)
#   oauth_ctl KEY=VALUE...      change test controls (see oauth_server.py)
#   oauth_stats [KEY]           print the server's counters as JSON
#   oauth_get URL               one GET without following redirects;
#                               prints "STATUS LOCATION", then the body
#   oauth_revoke TOKEN [HINT]   revoke a token (RFC 7009) as the client
#   oauth_python                print a python3 that can import oauthlib
#   oauth_cli NAME ARGS...      run the test driver $OAUTH_CLI (default
#                               $PF_BUILDDIR/tests/oauth-cli) trusting the
#                               server's CA, output in $T/NAME.out and
#                               $T/NAME.err; sets OC_RC and OC_SECS
#   oauth_endpoints             print the driver options naming this
#                               server's endpoints
#   oauth_json FILE KEY         print one member of a JSON file
#   oauth_trap                  after pf_init: stop the server on exit too
#   oauth_issued                every token the server issued, one a line
#   oauth_assert_no_tokens FILE...  none of them in any of the files
#
# The endpoints are $OA_URL/authorize, /device, /token, /revoke and
# /introspect; the public client is "popfetch-test", the user "alice".

# oauth_python: the interpreter to run the server with. A python3 earlier
# in PATH (a virtualenv, pyenv) may lack Debian's python3-oauthlib.
oauth_python() {
	local p
	for p in "${PF_OAUTH_PYTHON:-}" python3 /usr/bin/python3; do
		[ -n "$p" ] || continue
		if "$p" -c 'import oauthlib' 2>/dev/null; then
			printf '%s\n' "$p"
			return 0
		fi
	done
	return 1
}

# _oa_srcdir: the repository root (PF_SRCDIR, else found from this file).
_oa_srcdir() {
	if [ -n "${PF_SRCDIR:-}" ]; then
		printf '%s\n' "$PF_SRCDIR"
	else
		(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	fi
}

# oauth_start DIR [options]: start a server in DIR.
oauth_start() {
	local dir=$1 src certs
	shift
	src=$(_oa_srcdir)
	OA_PYTHON=$(oauth_python) || {
		echo "oauth_start: no python3 with oauthlib" \
		    "(apt-get install python3-oauthlib)" >&2
		return 1
	}
	mkdir -p "$dir"
	OA_DIR=$(cd "$dir" && pwd)
	OA_LOG=$OA_DIR/oauth.log
	if [ -n "${PF_CERTCACHE:-}" ] && [ -f "$PF_CERTCACHE/localhost.pem" ]
	then
		certs=$PF_CERTCACHE
	else
		certs=$OA_DIR/certs
		[ -f "$certs/localhost.pem" ] ||
		    bash "$src/tests/tls/mkcerts.sh" "$certs" || return 1
	fi
	OA_CA=$certs/ca.pem
	rm -f "$OA_DIR/port"
	"$OA_PYTHON" "$src/tests/lib/oauth_server.py" serve \
	    --cert "$certs/localhost.pem" --key "$certs/localhost.key" \
	    --portfile "$OA_DIR/port" "$@" </dev/null >>"$OA_LOG" 2>&1 &
	OA_PID=$!
	for _ in $(seq 1 100); do
		[ -s "$OA_DIR/port" ] && break
		if ! kill -0 "$OA_PID" 2>/dev/null; then
			echo "oauth_start: the server died; its log:" >&2
			cat "$OA_LOG" >&2
			OA_PID=
			return 1
		fi
		sleep 0.05
	done
	if [ ! -s "$OA_DIR/port" ]; then
		echo "oauth_start: the server did not start" >&2
		oauth_stop
		return 1
	fi
	OA_PORT=$(cat "$OA_DIR/port")
	OA_URL=https://127.0.0.1:$OA_PORT
	export OA_DIR OA_PID OA_PORT OA_URL OA_CA OA_LOG OA_PYTHON
}

# oauth_stop: stop the server started by oauth_start (idempotent).
oauth_stop() {
	if [ -n "${OA_PID:-}" ]; then
		kill "$OA_PID" 2>/dev/null || true
		wait "$OA_PID" 2>/dev/null || true
		OA_PID=
	fi
}

# oauth_ctl KEY=VALUE...: values are JSON (numbers, true, false) or text.
oauth_ctl() {
	"$OA_PYTHON" "$(_oa_srcdir)/tests/lib/oauth_server.py" ctl \
	    --port "$OA_PORT" --ca "$OA_CA" "$@"
}

# oauth_stats [KEY]: the server's counters (or one of them) as JSON.
oauth_stats() {
	"$OA_PYTHON" "$(_oa_srcdir)/tests/lib/oauth_server.py" stats \
	    --port "$OA_PORT" --ca "$OA_CA" "$@"
}

# oauth_get URL: one GET, no redirects followed.
oauth_get() {
	"$OA_PYTHON" "$(_oa_srcdir)/tests/lib/oauth_server.py" get \
	    --ca "$OA_CA" "$1"
}

# oauth_revoke TOKEN [HINT]: revoke TOKEN at the server.
oauth_revoke() {
	"$OA_PYTHON" "$(_oa_srcdir)/tests/lib/oauth_server.py" revoke \
	    --port "$OA_PORT" --ca "$OA_CA" "$@" >/dev/null
}

# oauth_endpoints: the driver options for this server's endpoints.
oauth_endpoints() {
	printf -- '--token-url %s/token --device-url %s/device ' \
	    "$OA_URL" "$OA_URL"
	printf -- '--authorize-url %s/authorize\n' "$OA_URL"
}

# oauth_cli NAME ARGS...: run the driver; output in $T/NAME.{out,err}.
oauth_cli() {
	local name=$1 cli=${OAUTH_CLI:-${PF_BUILDDIR:-.}/tests/oauth-cli} t0
	shift
	t0=$(date +%s.%N)
	SSL_CERT_FILE=$OA_CA timeout -k 5 300 "$cli" "$@" </dev/null \
	    >"$T/$name.out" 2>"$T/$name.err"
	OC_RC=$?
	OC_SECS=$(awk -v a="$t0" -v b="$(date +%s.%N)" \
	    'BEGIN { printf "%.2f", b - a }')
	printf '%s: oauth-cli %s -> exit %s in %ss\n' "${PF_TEST:-oauth}" \
	    "${*: -1}" "$OC_RC" "$OC_SECS"
}

# oauth_json FILE KEY: one member of a JSON object file ("" if absent).
oauth_json() {
	"$OA_PYTHON" -c 'import json, sys
v = json.load(open(sys.argv[1])).get(sys.argv[2])
print("" if v is None else v)' "$1" "$2"
}

# oauth_trap: call after pf_init (common.sh): on exit, stop this server
# as well as what common.sh stops.
oauth_trap() {
	trap '_oa_rc=$?; oauth_stop; (exit $_oa_rc); _pf_cleanup' EXIT
}

# oauth_issued: every access and refresh token the server issued.
oauth_issued() {
	"$OA_PYTHON" "$(_oa_srcdir)/tests/lib/oauth_server.py" stats \
	    --port "$OA_PORT" --ca "$OA_CA" | "$OA_PYTHON" -c 'import json, sys
s = json.load(sys.stdin)
print("\n".join(s["issued_access"] + s["issued_refresh"]))'
}

# oauth_assert_no_tokens FILE...: no token the server issued appears in
# any of the files (fail from common.sh otherwise).
oauth_assert_no_tokens() {
	local tok f
	while read -r tok; do
		[ -n "$tok" ] || continue
		for f in "$@"; do
			if [ -f "$f" ] && grep -qF -- "$tok" "$f"; then
				fail "a token appears in '$(basename "$f")'"
			fi
		done
	done < <(oauth_issued)
}
