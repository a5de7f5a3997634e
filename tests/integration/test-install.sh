#!/bin/bash
# `cmake --install` into a temporary prefix (and with DESTDIR): the
# binary runs, the man pages and the bash completion are in place, the
# zsh completion is in share/zsh/site-functions (where Debian's zsh
# looks), and the example systemd service and crontab name the binary
# that this install put there. No server is needed.
set -uo pipefail

PF_SRCDIR=${PF_SRCDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
PF_BUILDDIR=${PF_BUILDDIR:-$PF_SRCDIR/build}
NAME=test-install

fail() {
	printf '%s: FAIL: %s\n' "$NAME" "$*" >&2
	exit 1
}

T=$(mktemp -d "${TMPDIR:-/tmp}/pf-install.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
[ -f "$PF_BUILDDIR/cmake_install.cmake" ] ||
    fail "no configured build tree at '$PF_BUILDDIR' (set PF_BUILDDIR)"

# check PREFIX ROOT: the install of prefix PREFIX, found under ROOT.
check() {
	local prefix=$1 root=$2 ex exec_start
	[ -x "$root$prefix/bin/popfetch" ] || fail "no $prefix/bin/popfetch"
	for f in share/man/man1/popfetch.1 share/man/man5/popfetchrc.5 \
	    share/bash-completion/completions/popfetch \
	    share/zsh/site-functions/_popfetch; do
		[ -f "$root$prefix/$f" ] || fail "no $prefix/$f"
	done
	ex=$root$prefix/share/doc/popfetch/examples
	[ -f "$ex/popfetch.service" ] && [ -f "$ex/popfetch.timer" ] &&
	    [ -f "$ex/crontab" ] || fail "the examples are not in $ex"
	exec_start=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$ex/popfetch.service")
	[ "$exec_start" = "$prefix/bin/popfetch" ] ||
	    fail "ExecStart is '$exec_start', not '$prefix/bin/popfetch'"
	[ -x "$root$exec_start" ] || fail "ExecStart names no binary: $exec_start"
	exec_start=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' \
	    "$ex/popfetch-daemon.service")
	[ "$exec_start" = "$prefix/bin/popfetch" ] ||
	    fail "the daemon unit's ExecStart is '$exec_start', not '$prefix/bin/popfetch'"
	grep -q '^Type=notify$' "$ex/popfetch-daemon.service" ||
	    fail "the daemon unit is not Type=notify"
	grep -q "^PATH=$prefix/bin:" "$ex/crontab" ||
	    fail "the crontab's PATH lacks $prefix/bin"
}

cmake --install "$PF_BUILDDIR" --prefix "$T/prefix" >"$T/install.log" 2>&1 ||
    { cat "$T/install.log" >&2; fail "cmake --install --prefix failed"; }
check "$T/prefix" ""
"$T/prefix/bin/popfetch" --version >/dev/null ||
    fail "the installed binary does not run"

DESTDIR=$T/dest cmake --install "$PF_BUILDDIR" --prefix /opt/pf \
    >"$T/install2.log" 2>&1 ||
    { cat "$T/install2.log" >&2; fail "cmake --install with DESTDIR failed"; }
check /opt/pf "$T/dest"
printf '%s: PASS\n' "$NAME"
