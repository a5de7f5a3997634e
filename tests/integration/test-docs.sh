#!/bin/bash
# The documentation matches the program: both man pages lint clean, every
# option of `popfetch --help` is in popfetch(1)'s option list and back,
# the SYNOPSIS flags are the usage line's, every config key popfetch
# accepts is in popfetchrc(5) and back, and the shell completions load
# and complete (option values after '=' and after a space). No server is
# needed.
set -uo pipefail

PF_SRCDIR=${PF_SRCDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
PF_BUILDDIR=${PF_BUILDDIR:-$PF_SRCDIR/build}
POPFETCH=${POPFETCH:-$PF_BUILDDIR/popfetch}
NAME=test-docs
MAN1=$PF_SRCDIR/docs/popfetch.1
MAN5=$PF_SRCDIR/docs/popfetchrc.5
BASHCOMP=$PF_SRCDIR/completions/popfetch.bash
ZSHCOMP=$PF_SRCDIR/completions/_popfetch

fails=0
# bad MSG: record a failure and go on, so one run shows every problem.
bad() {
	printf '%s: FAIL: %s\n' "$NAME" "$*" >&2
	fails=$((fails + 1))
}
note() {
	printf '%s: %s\n' "$NAME" "$*"
}

T=$(mktemp -d "${TMPDIR:-/tmp}/pf-docs.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT

[ -x "$POPFETCH" ] || { bad "no popfetch binary at '$POPFETCH'"; exit 1; }
for f in "$MAN1" "$MAN5" "$BASHCOMP" "$ZSHCOMP"; do
	[ -f "$f" ] || bad "missing file '$f'"
done
[ "$fails" -eq 0 ] || exit 1
command -v mandoc >/dev/null 2>&1 ||
    { bad "mandoc is not installed (apt-get install mandoc)"; exit 1; }
command -v python3 >/dev/null 2>&1 || { bad "python3 is not installed"; exit 1; }

# 1. Lint: any output at all is a failure.
for f in "$MAN1" "$MAN5"; do
	out=$(mandoc -T lint -W warning "$f" 2>&1)
	[ -z "$out" ] || bad "mandoc -T lint -W warning $(basename "$f"):"$'\n'"$out"
done

# 2. Options: --help against the OPTIONS list of popfetch.1.
"$POPFETCH" --help >"$T/help" 2>&1 || bad "popfetch --help exited non-zero"
python3 - "$T/help" "$MAN1" >"$T/opts.out" 2>&1 <<'EOF'
import re, sys

help_text = open(sys.argv[1]).read()
man = open(sys.argv[2]).read().splitlines()

# Options in --help: every --long token, and the -x of "  -x, --long" lines.
help_opts = set(re.findall(r'(?<![\w-])--[a-z0-9][a-z0-9-]*', help_text))
help_opts |= set(re.findall(r'^\s+(-[A-Za-z0-9]),', help_text, re.M))

# Options in popfetch.1: the .It lines of the OPTIONS section.
man_opts, in_opts = set(), False
for line in man:
    if line.startswith('.Sh '):
        in_opts = line.strip() == '.Sh OPTIONS'
        continue
    if in_opts and line.startswith('.It '):
        for tok in re.findall(r'\bFl\s+(\S+)', line):
            tok = tok.replace('\\-', '-').rstrip(',')
            if tok:
                man_opts.add('-' + tok)

ok = True
if len(help_opts) < 30 or len(man_opts) < 30:
    print('too few options found (help %d, man %d): parser broken?'
          % (len(help_opts), len(man_opts)))
    ok = False
for o in sorted(help_opts - man_opts):
    print('in --help but not in popfetch.1 OPTIONS: %s' % o)
    ok = False
for o in sorted(man_opts - help_opts):
    print('in popfetch.1 OPTIONS but not in --help: %s' % o)
    ok = False

# The SYNOPSIS flags and the usage line's.
m = re.search(r'usage: popfetch \[-([0-9A-Za-z]+)\]', help_text)
u = re.findall(r'\[-([A-Za-z0-9]) [a-z]+\]', help_text)
syn = [l for l in man if l.startswith('.Op Fl ')]
flags = syn[0].split()[2] if syn else ''
args = [l.split()[2] for l in syn[1:] if len(l.split()) >= 5]
if m is None or m.group(1) != flags:
    print('SYNOPSIS flags %r differ from the usage line %r'
          % (flags, m.group(1) if m else None))
    ok = False
if u != args:
    print('SYNOPSIS options with values %r differ from the usage line %r'
          % (args, u))
    ok = False
print('options: %d in --help, %d in popfetch.1' % (len(help_opts),
      len(man_opts)))
sys.exit(0 if ok else 1)
EOF
rc=$?
if [ "$rc" -eq 0 ]; then
	note "$(tail -n 1 "$T/opts.out")"
else
	bad "options of --help and popfetch.1 differ:"$'\n'"$(cat "$T/opts.out")"
fi

# 3. Config keys: the key table of src/config.c, each one checked against
# the binary (it must not be an unknown key) and against popfetchrc.5.
python3 - "$PF_SRCDIR/src/config.c" >"$T/keys" <<'EOF'
import re, sys
src = open(sys.argv[1]).read()
m = re.search(r'config_keys\[\]\s*=\s*\{(.*?)\n\};', src, re.S)
if m:
    for k in re.findall(r'\{\s*"([a-z0-9_]+)"\s*,\s*KT_', m.group(1)):
        print(k)
EOF
nkeys=$(wc -l <"$T/keys")
[ "$nkeys" -ge 20 ] || bad "found only $nkeys keys in src/config.c (parser broken?)"

# known KEY: true when popfetch does not call KEY an unknown key.
known() {
	(umask 077; printf 'defaults\n  %s\n' "$1" >"$T/cfg")
	HOME=$T "$POPFETCH" -C "$T/cfg" -n >/dev/null 2>"$T/cfg.err" </dev/null
	! grep -q "unknown key" "$T/cfg.err"
}
known no_such_key_xyz && bad "popfetch accepts a bogus key: the key check cannot work"

# The keys popfetchrc.5 documents: .It Ic lines of its KEYS section.
awk '/^\.Sh /{k=($0==".Sh KEYS")} k && /^\.It Ic /{print $3}' "$MAN5" \
    >"$T/mankeys"
while read -r k; do
	known "$k" || bad "key '$k' of src/config.c is refused by popfetch: $(cat "$T/cfg.err")"
	grep -qx -- "$k" "$T/mankeys" || bad "key '$k' is not documented in popfetchrc.5 (KEYS)"
done <"$T/keys"
while read -r k; do
	known "$k" || bad "popfetchrc.5 documents '$k', which popfetch calls an unknown key"
done <"$T/mankeys"
for kw in defaults account default; do
	grep -q "^\.It Ic $kw\( \|$\)" "$MAN5" ||
	    bad "keyword '$kw' is not documented in popfetchrc.5"
done
note "config keys: $nkeys in src/config.c, $(wc -l <"$T/mankeys") in popfetchrc.5"

# 4. Bash completion: syntax, loading, and completing.
bash -n "$BASHCOMP" 2>"$T/bash.err" || bad "bash -n completions/popfetch.bash: $(cat "$T/bash.err")"
cat >"$T/cfgcomp" <<'EOF'
defaults
  keep on
account work
  host pop.example.com
account archive : work
  keep on
account  wide:work
EOF
# complete WORDS...: print the completions of the last word, one a line.
complete_words() {
	bash --norc --noprofile -c '
		set -u
		. "$1" || exit 90
		fn=$(complete -p popfetch 2>/dev/null |
		    sed -n "s/.* -F \([^ ]*\) .*/\1/p")
		[ -n "$fn" ] || exit 91
		shift
		COMP_WORDS=("$@")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		COMP_LINE="$*"
		COMP_POINT=${#COMP_LINE}
		COMPREPLY=()
		cur=${COMP_WORDS[COMP_CWORD]}; [ "$cur" = = ] && cur=
		"$fn" popfetch "$cur" \
		    "${COMP_WORDS[COMP_CWORD - 1]}"
		printf "%s\n" "${COMPREPLY[@]}"
	' bash "$BASHCOMP" "$@"
}
got=$(complete_words popfetch --au 2>&1)
rc=$?
[ "$rc" -eq 0 ] || bad "the bash completion did not load or register for popfetch (status $rc): $got"
got=$(sort <<<"$got" | tr '\n' ' ')
[ "$got" = "--auth --authorize " ] ||
    bad "bash: 'popfetch --au<TAB>' gave '$got', want '--auth --authorize'"
got=$(complete_words popfetch --authorize = 2>&1 | sort | tr '\n' ' ')
[ "$got" = "browser device " ] ||
    bad "bash: 'popfetch --authorize=<TAB>' gave '$got'"
got=$(complete_words popfetch --auth scram 2>&1 | sort | tr '\n' ' ')
[ "$got" = "scram-sha-1 scram-sha-256 " ] ||
    bad "bash: 'popfetch --auth scram<TAB>' gave '$got'"
got=$(complete_words popfetch --progress = 2>&1 | sort | tr '\n' ' ')
[ "$got" = "always auto never " ] ||
    bad "bash: 'popfetch --progress=<TAB>' gave '$got'"
got=$(complete_words popfetch -C "$T/cfgcomp" '' 2>&1 | sort | tr '\n' ' ')
[ "$got" = "archive wide work " ] ||
    bad "bash: account names from -C FILE gave '$got', want 'archive wide work'"
got=$(complete_words popfetch --tls-m 2>&1)
[ "$got" = "--tls-min" ] || bad "bash: 'popfetch --tls-m<TAB>' gave '$got'"
# Values given after a space, for every kind of option value; numbers
# get nothing (not account names, not options).
mkdir -p "$T/comp/mdir" && : >"$T/comp/ca.pem"
for opt in --maildir --state-dir; do
	got=$(complete_words popfetch "$opt" "$T/comp/m" 2>&1)
	[ "$got" = "$T/comp/mdir" ] ||
	    bad "bash: 'popfetch $opt DIR<TAB>' gave '$got'"
done
for opt in --ca-file --cert --key --mbox --config -C; do
	got=$(complete_words popfetch "$opt" "$T/comp/c" 2>&1)
	[ "$got" = "$T/comp/ca.pem" ] ||
	    bad "bash: 'popfetch $opt FILE<TAB>' gave '$got'"
done
got=$(complete_words popfetch --tls-min '' 2>&1 | tr '\n' ' ')
[ "$got" = "1.2 1.3 " ] || bad "bash: 'popfetch --tls-min <TAB>' gave '$got'"
for opt in --timeout --lock-wait --mda-timeout --delete-after --max-size \
    --kill-size --max-message-size --limit --jobs -j --fingerprint; do
	got=$(complete_words popfetch -C "$T/cfgcomp" "$opt" '' 2>&1)
	[ -z "$got" ] ||
	    bad "bash: 'popfetch $opt <TAB>' offered '$(echo $got)'"
done

# Both completions know every option of --help.
grep -o -- '--[a-z0-9][a-z0-9-]*' "$T/help" | sort -u >"$T/helplong"
list=$(bash --norc --noprofile -c '. "$1"; printf "%s\n" $_popfetch_opts' \
    bash "$BASHCOMP" 2>/dev/null)
while read -r o; do
	grep -qx -- "$o" <<<"$list" || bad "the bash completion lacks $o"
	grep -q -- "$o[=[]" "$ZSHCOMP" || grep -q -- "$o}" "$ZSHCOMP" ||
	    bad "the zsh completion lacks $o"
done <"$T/helplong"

# 5. zsh completion: syntax only, when zsh is here.
if command -v zsh >/dev/null 2>&1; then
	zsh -n "$ZSHCOMP" 2>"$T/zsh.err" || bad "zsh -n completions/_popfetch: $(cat "$T/zsh.err")"
	# Type into an interactive zsh on a pseudo-terminal and wait for
	# each expected completion to be echoed; a wrong one times out.
	cat >"$T/zt.zsh" <<'EOF'
zmodload zsh/zpty || exit 3
zpty z 'zsh -f -i'
zpty -w z "PS1='> '; fpath=($1 \$fpath); autoload -Uz compinit; compinit -u -D"
zpty -w z 'print READY'
zpty -r -m z out '*READY*'
check() {
	zpty -w -n z "$1"$'\t'
	zpty -r -m z out "*$2*" || exit 1
	print -r -- "ok: $1"
	zpty -w -n z $'\C-u'
}
check 'popfetch --au' 'popfetch --auth'
check 'popfetch --auth=scram-sha-2' '--auth=scram-sha-256'
check 'popfetch --progress=al' '--progress=always'
check 'popfetch --progress al' '--progress always'
check "popfetch -C $2 wi" 'cfgcomp wide'
zpty -d z
EOF
	if timeout 60 zsh -f "$T/zt.zsh" "$PF_SRCDIR/completions" \
	    "$T/cfgcomp" >"$T/zt.out" 2>&1; then
		note "zsh completion: $(grep -c '^ok:' "$T/zt.out") cases completed"
	else
		bad "zsh completion (pty) failed after: $(grep '^ok:' "$T/zt.out" | tail -n 1)"
	fi
else
	note "SKIPPED: zsh is not installed, completions/_popfetch not checked"
fi

if [ "$fails" -ne 0 ]; then
	printf '%s: %d check(s) failed\n' "$NAME" "$fails" >&2
	exit 1
fi
printf '%s: PASS\n' "$NAME"
exit 0
