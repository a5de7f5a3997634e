#!/bin/bash
# Systematic syscall fault injection (docs/faults.md #48, #49): an LD_PRELOAD
# shim (tests/faultshim) fails the n-th write, fsync, link, rename or
# creating open under the Maildir/mbox and the state dir, for n over a
# whole delete-mode session of 20 messages, with ENOSPC and EIO (EDQUOT
# and EFBIG on writes once). After every fault: exit 74 or 75 (0 only when
# the fault hit nothing that matters, e.g. it never fired), nothing lost,
# nothing duplicated, no file in tmp/, the mbox made of complete messages;
# then a clean run delivers everything exactly once and empties the server.
#
# FAULTS_MAX (default 40) bounds the points per (sink, op, errno) for
# ENOSPC; EIO/EDQUOT/EFBIG sample FAULTS_SAMPLE (default 8) points. Against
# an Asan popfetch both are smaller (12 and 3) to bound the time.
. "$(dirname "$0")/../lib/common.sh"
pf_init

SHIM=${FAULTSHIM:-$PF_BUILDDIR/tests/libfaultshim.so}
[ -f "$SHIM" ] || fail "no fault shim at '$SHIM' (build the faultshim target)"
# An Asan popfetch wants its runtime first in the library list; the shim
# has no sanitizer and calls through (RTLD_NEXT) to the Asan interceptors.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
max=${FAULTS_MAX:-40}
sample=${FAULTS_SAMPLE:-8}
libs=$(ldd "$POPFETCH" 2>/dev/null || true)
if printf '%s\n' "$libs" | grep -q libasan; then
	# About three times slower: sample, the Release tree loops over all.
	max=${FAULTS_MAX:-12}
	sample=${FAULTS_SAMPLE:-3}
	note "Asan build: $max points per op (ENOSPC), $sample otherwise;" \
	    "the Release tree's run covers every point"
fi

pf_server
L=$T/local
: >"$T/problems"
points=0
fired_total=0

# problem NAME MSG: record a failed expectation; the loop goes on.
problem() {
	local name=$1
	shift
	printf '%s: %s\n' "$name" "$*" >>"$T/problems"
	show "$name" 2>>"$T/problems.detail"
	printf '%s: FAIL: %s: %s\n' "$PF_TEST" "$name" "$*" >&2
	return 1
}

# strerror NAME: the message glibc prints for errno NAME.
strerror() {
	case $1 in
	ENOSPC) echo "No space left on device" ;;
	EIO) echo "Input/output error" ;;
	EDQUOT) echo "Disk quota exceeded" ;;
	EFBIG) echo "File too large" ;;
	esac
}

# points_for N K: K points spread evenly over 1..N (all when N <= K).
points_for() {
	awk -v n="$1" -v k="$2" 'BEGIN {
		if (n <= k) { for (i = 1; i <= n; i++) print i; exit }
		for (i = 0; i < k; i++) {
			v = int(1 + i * (n - 1) / (k - 1) + 0.5)
			if (v != last) print v
			last = v
		}
	}'
}

# target SINK: the popfetch delivery option for SINK.
target() {
	case $1 in
	maildir) printf '%s\n' "--maildir $L/mail" ;;
	mbox) printf '%s\n' "--mbox $L/mbox" ;;
	esac
}

# fresh: empty local dirs, 20 new messages on the emptied server. Each
# fill has new ids: Dovecot's index is confused by a file name it saw
# expunged ("Expunged message reappeared") and may list only part.
fills=0
fresh() {
	rm -rf "$L"
	mkdir -p "$L"
	# Left over only after a recorded problem.
	find "$DC_MAILDIR/new" "$DC_MAILDIR/cur" -type f -delete 2>/dev/null
	python3 "$PF_LIB/mailgen.py" --maildir "$DC_MAILDIR" \
	    --manifest "$T/manifest.json" --count 20 --plain \
	    --size 500:30000 --seed 48 --start $((fills * 100 + 1)) \
	    >/dev/null || fail "mailgen.py failed"
	fills=$((fills + 1))
	dovecot_chown
}

# shim_run NAME SINK OP ERRNO N: one popfetch run under the shim.
shim_run() {
	local name=$1 sink=$2 op=$3 e=$4 n=$5
	# shellcheck disable=SC2046
	FAULTSHIM_OP=$op FAULTSHIM_N=$n FAULTSHIM_ERRNO=$e \
	    FAULTSHIM_PATH_PREFIX=$L FAULTSHIM_COUNT_FILE=$T/count \
	    FAULTSHIM_LOG=$T/fault.log LD_PRELOAD=$SHIM \
	    pf_run_raw "$name" --host localhost --port "$DC_POP3S_PORT" \
	    --user "$DC_USER" --password-command "cat $DC_PASS_FILE" \
	    --ca-file "$DC_CA" --state-dir "$L/state" --timeout 30 \
	    $(target "$sink") >/dev/null
}

# check_after NAME SINK: nothing lost, nothing duplicated, nothing partial.
check_after() {
	local name=$1 sink=$2
	case $sink in
	maildir)
		[ "$(maildir_tmp_count "$L/mail")" -eq 0 ] ||
		    { problem "$name" "a file is left in the Maildir's tmp/"
		    return; }
		if [ -d "$L/mail" ]; then
			verify --quiet --maildir "$L/mail" \
			    --allow-missing-from-server-dir "$DC_MAILDIR" \
			    2>>"$T/problems.detail" ||
			    problem "$name" "lost, partial or duplicated" \
			    "messages in the Maildir"
		fi
		;;
	mbox)
		if [ -s "$L/mbox" ]; then
			verify --quiet --mbox "$L/mbox" \
			    --allow-missing-from-server-dir "$DC_MAILDIR" \
			    2>>"$T/problems.detail" ||
			    problem "$name" "the mbox holds a partial message," \
			    "or messages were lost or duplicated"
		elif [ "$(dovecot_count_messages)" -ne 20 ]; then
			problem "$name" "empty mbox but messages left the server"
		fi
		;;
	esac
}

# connections: POP3 connections Dovecot has logged so far.
connections() {
	grep -cE 'pop3-login: .*(Login: |Disconnected|Aborted)' "$DC_LOG" ||
	    true
}

# outcome NAME ERRNO FIRED WHERE C0: judge the exit status of a fault run.
outcome() {
	local name=$1 e=$2 fired=$3 where=$4 c0=$5
	case $PF_RC in
	74 | 75)
		[ "$fired" -eq 1 ] ||
		    { problem "$name" "exit $PF_RC without a fault"; return; }
		grep -q '^popfetch: ' "$T/$name.err" ||
		    { problem "$name" "no 'popfetch: ' error line"; return; }
		grep -qF "$(strerror "$e")" "$T/$name.err" ||
		    problem "$name" "the error does not say '$(strerror "$e")'"
		;;
	73)
		# Cannot create the target or take the state dir's lock:
		# only before connecting (docs/faults.md #50, #62).
		[ "$fired" -eq 1 ] ||
		    { problem "$name" "exit 73 without a fault"; return; }
		sleep 0.3
		[ "$(connections)" -eq "$c0" ] ||
		    problem "$name" "exit 73 after connecting ($where)"
		grep -qF "$(strerror "$e")" "$T/$name.err" ||
		    problem "$name" "the error does not say '$(strerror "$e")'"
		;;
	0)
		# The mbox dotlock's link result is not trusted (NFS): a
		# failed link is a busy lock, and the retry takes it.
		case $where in
		"link $L/.popfetch."*.lk) return ;;
		esac
		# A failed call taken as success breaks the guarantees.
		[ "$fired" -eq 0 ] ||
		    problem "$name" "the fault ($where: $e) was ignored," \
		    "popfetch exited 0"
		;;
	*)
		problem "$name" "exit $PF_RC (want 74 or 75) after $where: $e"
		;;
	esac
}

# point SINK OP ERRNO N: one fault point, then the clean rerun.
point() {
	local sink=$1 op=$2 e=$3 n=$4 name="$1-$2-$3-$4" fired=0 where=none
	local c0 nprob
	fresh
	rm -f "$T/fault.log"
	c0=$(connections)
	nprob=$(wc -l <"$T/problems")
	shim_run "$name" "$sink" "$op" "$e" "$n"
	if [ -s "$T/fault.log" ]; then
		fired=1
		where=$(cut -d' ' -f3,4 "$T/fault.log")
	fi
	points=$((points + 1))
	fired_total=$((fired_total + fired))
	outcome "$name" "$e" "$fired" "$where" "$c0"
	check_after "$name" "$sink"
	[ "$(wc -l <"$T/problems")" -eq "$nprob" ] || return 0
	# The clean rerun completes everything exactly once.
	# shellcheck disable=SC2046
	pf_run_raw "$name-rerun" --host localhost --port "$DC_POP3S_PORT" \
	    --user "$DC_USER" --password-command "cat $DC_PASS_FILE" \
	    --ca-file "$DC_CA" --state-dir "$L/state" --timeout 30 \
	    $(target "$sink") >/dev/null
	if [ "$PF_RC" -ne 0 ]; then
		problem "$name-rerun" "the clean rerun exited $PF_RC" \
		    "(fault was $where)"
		return 0
	fi
	case $sink in
	maildir) verify --quiet --maildir "$L/mail" ;;
	mbox) verify --quiet --mbox "$L/mbox" ;;
	esac 2>>"$T/problems.detail" ||
	    { problem "$name-rerun" "not exactly the corpus once after the" \
	    "rerun (fault was $where)"; return 0; }
	[ "$(dovecot_count_messages)" -eq 0 ] ||
	    { problem "$name-rerun" "messages left on the server after" \
	    "the rerun"; return 0; }
	rm -f "$T/$name.out" "$T/$name.err" "$T/$name-rerun.out" \
	    "$T/$name-rerun.err"
}

# combo SINK OP ERRNO K: learn N from a clean run, then K points of 1..N.
combo() {
	local sink=$1 op=$2 e=$3 k=$4 total n
	fresh
	rm -f "$T/count"
	shim_run "count-$sink-$op" "$sink" "$op" "$e" 0
	[ "$PF_RC" -eq 0 ] || { show "count-$sink-$op"; fail "clean run under" \
	    "the shim ($sink, $op) exited $PF_RC"; }
	total=$(cat "$T/count" 2>/dev/null)
	[ -n "$total" ] || fail "the shim wrote no count ($sink, $op)"
	[ "$total" -gt 0 ] || fail "no $op call under the prefix ($sink):" \
	    "is the shim interposing?"
	for n in $(points_for "$total" "$k"); do
		point "$sink" "$op" "$e" "$n"
	done
	note "$sink $op $e: $total calls, $(points_for "$total" "$k" |
	    wc -l) points"
}

for sink in maildir mbox; do
	for op in write fsync link rename open; do
		if [ "$sink" = mbox ] && [ "$op" = link ]; then
			# mbox only links its dotlock, where a failure is
			# retried, not an error: count it but do not loop.
			combo "$sink" "$op" ENOSPC 2
			continue
		fi
		combo "$sink" "$op" ENOSPC "$max"
		combo "$sink" "$op" EIO "$sample"
	done
	combo "$sink" write EDQUOT "$sample"
	combo "$sink" write EFBIG "$sample"
	combo "$sink" fsync EDQUOT 3
done
note "$points fault points exercised, $fired_total faults injected"
if [ -s "$T/problems" ]; then
	note "$(wc -l <"$T/problems") problems (details in problems.detail):"
	sort "$T/problems" >&2
	fail "syscall faults were mishandled"
fi
pass
