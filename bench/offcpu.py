#!/usr/bin/env python3
"""offcpu.py: where a process waits, from perf sched_switch records.

    perf record -e sched:sched_switch -g -o FILE -- COMMAND
    perf script -i FILE -F comm,pid,tid,time,event,trace,ip,sym | \
        offcpu.py --comm NAME [--pid TID] [--top N]

(record with -a, system-wide, so that switch-ins are seen; then --pid
keeps one process apart from others of the same name)

Sums, per blocking stack (the kernel function that slept, the syscall and
the first user-space frame), the time each thread named NAME spent
switched out (from its switch-out to its next switch-in), and prints the
largest sums with their counts. "R" (preempted while runnable) is CPU
contention, not waiting for I/O.
"""

import argparse
import collections
import re
import sys

HEAD = re.compile(r"^(\S.*?)\s+(\d+)/(\d+)\s+([\d.]+):\s+sched:sched_switch:"
                  r"\s+prev_comm=(.*?) prev_pid=(\d+) .*?prev_state=(\S+)"
                  r" ==> next_comm=(.*?) next_pid=(\d+)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--comm", required=True)
    ap.add_argument("--pid", help="only this thread id (system-wide data)")
    ap.add_argument("--top", type=int, default=12)
    a = ap.parse_args()
    out = {}            # tid -> (time, key)
    tot = collections.Counter()
    cnt = collections.Counter()
    ev = None
    frames = []

    def flush():
        if ev is None:
            return
        t, prev_comm, prev_pid, state, next_pid = ev
        if next_pid in out:
            t0, key = out.pop(next_pid)
            tot[key] += t - t0
            cnt[key] += 1
        if prev_comm == a.comm and (a.pid is None or prev_pid == a.pid):
            syms = [f for f in frames if f != "[unknown]"]
            kern = [s for s in syms if not s.startswith(("__schedule",
                                                         "schedule"))]
            sysc = next((s for s in syms if s.startswith("__x64_sys_")),
                        "")
            user = frames[-1] if frames else "?"
            key = "%s %s | %s | %s" % (state, kern[0] if kern else "?",
                                      sysc.replace("__x64_sys_", "sys_"),
                                      user)
            out[prev_pid] = (t, key)

    for line in sys.stdin:
        m = HEAD.match(line)
        if m:
            flush()
            frames = []
            ev = (float(m.group(4)), m.group(5), m.group(6), m.group(7),
                  m.group(9))
        elif line.strip():
            parts = line.split(None, 1)
            frames.append(parts[1].strip() if len(parts) > 1 else "?")
    flush()
    total = sum(tot.values())
    print("off-CPU time of '%s': %.3f s" % (a.comm, total))
    for key, v in tot.most_common(a.top):
        print("%8.3f s %6d x  %s" % (v, cnt[key], key))


if __name__ == "__main__":
    main()
