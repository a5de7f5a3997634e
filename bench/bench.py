#!/usr/bin/env python3
"""bench.py: time popfetch, mpop, fetchmail and a floor reader side by side.

    bench.py --popfetch BIN --floor BIN --mda BIN [--workdir DIR]
             [--runs N] [--quick] [--only W1,W2,...] [--doc FILE]
             [--tmpfs] [--command TEXT]

Normally started by bench/run, which builds the binaries. It starts its
own Dovecot on loopback (tests/lib/dovecot.sh), generates the workloads
with bench/gen.py (deterministic), warms Dovecot's indexes once per
workload, and then, for every case, runs each client in turn (the order
rotates every round), refilling the server Maildir from the warmed copy
before each run (cp -a, chown, sync: not timed). Each run is timed with
os.wait4 (wall: time.monotonic; CPU: user+sys of the client and its
children, e.g. MDA processes; peak RSS: ru_maxrss of the process tree)
and its delivery is checked with bench/check.py: a wrong or incomplete
delivery aborts the benchmark. Medians are reported, with the ratios to
the floor and to mpop and whether popfetch meets its targets.

W3 runs through a delay proxy adding 5 ms each way (10 ms round trip):
tests/lib/faultproxy.py --delay-ms 5 (this kernel has no netem); the
proxy's own cost is measured (the floor with --delay-ms 0 through the
proxy against the floor direct) and printed.
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from fixed import FIXED_CASES, Fixed

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
MiB = 1024 * 1024

# name: (count, size, kind, seed, description)
WORKLOADS = {
    "W1": (2000, 4096, "text", 1, "2000 x 4 KiB"),
    "W2": (50, 2 * MiB, "attach", 2, "50 x 2 MiB"),
    "W3": (500, 4096, "text", 3, "500 x 4 KiB, 10 ms RTT"),
    "W4": (1, 100 * MiB, "attach", 4, "1 x 100 MiB"),
    "W5": (20, 4096, "text", 5, "20 x 4 KiB, for each of 200 accounts"),
}

# (case label, workload, delivery mode)
CASES = [
    ("W1", "W1", "maildir"),
    ("W1 mbox", "W1", "mbox"),
    ("W1 MDA", "W1", "mda"),
    ("W2", "W2", "maildir"),
    ("W3", "W3", "maildir"),
    ("W4", "W4", "maildir"),
]


# The floors that also store what they read, per case: the files in a
# Maildir and one sync (W1, W3), or one MDA run per message (W1 MDA), and
# with "floor MDA sync" one durable record per delivered message too.
STORING_FLOORS = {"W1": ["floor files"], "W3": ["floor files"],
                  "W1 MDA": ["floor MDA", "floor MDA sync"]}


def log(text):
    print("bench: " + text, file=sys.stderr, flush=True)


def sh(cmd, **kw):
    """Run a command, failing loudly."""
    subprocess.run(cmd, check=True, **kw)


class Dovecot:
    """A Dovecot of our own, started and stopped through dovecot.sh."""

    def __init__(self, root):
        self.root = root
        out = subprocess.run(
            ["bash", "-c", 'source "$1/tests/lib/dovecot.sh" && '
             'dovecot_start "$2" >&2 && env | grep "^DC_"', "bash", SRC,
             os.path.join(root, "dovecot")],
            check=True, stdout=subprocess.PIPE, text=True).stdout
        self.env = dict(line.split("=", 1) for line in out.splitlines())
        self.pid = int(self.env["DC_PID"])
        self.port = int(self.env["DC_POP3S_PORT"])
        self.maildir = self.env["DC_MAILDIR"]
        self.home = os.path.dirname(self.maildir)
        self.user = self.env["DC_USER"]
        self.passfile = self.env["DC_PASS_FILE"]
        self.password = self.env["DC_PASS"]
        self.ca = self.env["DC_CA"]
        self.mailuser = self.env["DC_MAILUSER"]

    def stop(self):
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        for _ in range(50):
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def refill_empty(self):
        """Make the server Maildir empty."""
        shutil.rmtree(self.maildir, ignore_errors=True)
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(self.maildir, sub))
        if os.getuid() == 0:
            sh(["chown", "-R", self.mailuser + ":", self.home])

    def refill(self, template):
        """Make the server Maildir a fresh copy of template."""
        shutil.rmtree(self.maildir, ignore_errors=True)
        sh(["cp", "-a", template, self.maildir])
        if os.getuid() == 0:
            sh(["chown", "-R", self.mailuser + ":", self.home])


class Proxy:
    """faultproxy.py adding a fixed delay each way."""

    def __init__(self, root, target_port, delay_ms):
        portfile = os.path.join(root, "proxy%d.port" % delay_ms)
        if os.path.exists(portfile):
            os.unlink(portfile)
        self.errf = open(os.path.join(root, "proxy%d.log" % delay_ms), "w")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(SRC, "tests/lib/faultproxy.py"),
             "--target", "127.0.0.1:%d" % target_port, "--portfile",
             portfile, "--delay-ms", str(delay_ms)],
            stdout=subprocess.DEVNULL, stderr=self.errf)
        for _ in range(100):
            if os.path.exists(portfile):
                break
            time.sleep(0.05)
        with open(portfile) as f:
            self.port = int(f.read().strip())

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.errf.close()


def timed(cmd, errpath):
    """Run cmd; return (exit code, wall s, cpu s, peak RSS KiB).

    GNU time runs the client and reports its rusage (CPU of the client and
    its children, the largest RSS among them): Python cannot do that itself
    without its own pre-exec RSS (the forked interpreter) counting as the
    client's peak."""
    res = errpath + ".time"
    with open(errpath, "wb") as err:
        t0 = time.monotonic()
        rc = subprocess.call(["/usr/bin/time", "-o", res, "-f",
                              "%x %U %S %M"] + cmd,
                             stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=err)
        wall = time.monotonic() - t0
    with open(res) as f:
        last = f.read().split("\n")
    fields = [x for x in last if x.strip()][-1].split()
    if rc != 0 or len(fields) != 4:
        return rc or 1, wall, 0.0, 0
    return int(fields[0]), wall, float(fields[1]) + float(fields[2]), \
        int(fields[3])


class Bench:
    """The whole benchmark: setup, runs, table."""

    def __init__(self, args):
        self.a = args
        self.root = args.workdir
        self.dc = None
        self.results = {}       # (case, client) -> [(wall, cpu, rss)]
        self.clients = {}       # case -> its clients, in table order
        self.notes = []
        self.fixed_notes = []
        self.server_cpu = {}
        self.proxy = None
        self.seq = 0

    # -- clients -------------------------------------------------------

    def fresh(self, name):
        """A path no run has used: nothing is deleted in the delivery
        file system until the end, so that no run pays for another's
        deletions (see bench/README.md, "Disk")."""
        self.seq += 1
        return os.path.join(self.deliv, "%s-%d" % (name, self.seq))

    def target(self, mode, run):
        """Prepare an empty delivery target; return its path."""
        path = self.fresh("out-" + run.replace(" ", "-"))
        if mode == "mbox":
            return path
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(path, sub))
        return path

    def mda_cmd(self, path):
        return "%s %s" % (self.a.mda, path)

    def cmd_popfetch(self, mode, path, port, st):
        cfg = os.path.join(st, "popfetch.conf")
        key = {"maildir": "maildir", "mbox": "mbox", "mda": "mda"}[mode]
        val = self.mda_cmd(path) if mode == "mda" else path
        with open(os.open(cfg, os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                          0o600), "w") as f:
            f.write("account bench\n host localhost\n port %d\n user %s\n"
                    " password %s\n ca_file %s\n %s %s\n state_dir %s\n"
                    "default bench\n" % (port, self.dc.user,
                                         self.dc.password, self.dc.ca, key,
                                         val, os.path.join(st, "state")))
        return [self.a.popfetch, "-C", cfg, "-q"]

    def cmd_mpop(self, mode, path, port, st):
        rc = os.path.join(st, "mpoprc")
        if mode == "mda":
            deliv = "mda %s" % self.mda_cmd(path)
        else:
            deliv = "%s %s" % (mode, path)
        with open(os.open(rc, os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                          0o600), "w") as f:
            f.write("account bench\nhost localhost\nport %d\ntls on\n"
                    "tls_starttls off\ntls_trust_file %s\nuser %s\n"
                    "password %s\ndelivery %s\nkeep off\nonly_new off\n"
                    "uidls_file %s\n" % (port, self.dc.ca, self.dc.user,
                                         self.dc.password, deliv,
                                         os.path.join(st, "uidls")))
        return ["mpop", "-C", rc, "-q", "bench"]

    def cmd_fetchmail(self, mode, path, port, st):
        rc = os.path.join(st, "fetchmailrc")
        with open(os.open(rc, os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                          0o600), "w") as f:
            f.write('set no syslog\npoll localhost protocol pop3 port %d\n'
                    '  user "%s" there is "root" here password "%s"\n'
                    '  ssl sslcertfile "%s" sslcertck\n  mda "%s"\n'
                    '  fetchall nokeep no rewrite\n'
                    % (port, self.dc.user, self.dc.password, self.dc.ca,
                       self.mda_cmd(path)))
        return ["fetchmail", "-f", rc, "-i", os.path.join(st, "fetchids"),
                "--nosyslog", "-s", "--nodetach"]

    def cmd_floor(self, mode, path, port, st):
        return [self.a.floor, "-p", str(port), "-u", self.dc.user, "-w",
                self.dc.passfile, "-c", self.dc.ca]

    def cmd_floor_files(self, mode, path, port, st):
        """The floor that also stores each message in a Maildir and
        syncs once: what writing the files costs on this disk."""
        return self.cmd_floor(mode, path, port, st) + ["-d", path]

    def cmd_floor_mda(self, mode, path, port, st):
        """The floor that runs the MDA once per message, no shell, no
        sync: what the MDA itself costs."""
        return self.cmd_floor(mode, path, port, st) + ["-d", path, "-m",
                                                       self.a.mda]

    def cmd_floor_mda_sync(self, mode, path, port, st):
        """floor MDA plus one durable record per message before the next
        MDA starts: what re-delivering at most one message after a crash
        costs at the least (popfetch keeps that bound; mpop does not)."""
        return self.cmd_floor_mda(mode, path, port, st) + [
            "-s", path.rstrip("/") + ".journal"]

    # -- setup ---------------------------------------------------------

    def generate(self, wl):
        """Generate a workload and a warmed server Maildir for it."""
        count, size, kind, seed, _ = WORKLOADS[wl]
        raw = os.path.join(self.srv, "gen-" + wl)
        manifest = os.path.join(self.root, wl + ".json")
        log("generating %s (%d x %d bytes)" % (wl, count, size))
        sh([sys.executable, os.path.join(HERE, "gen.py"), "--maildir", raw,
            "--manifest", manifest, "--count", str(count), "--size",
            str(size), "--kind", kind, "--seed", str(seed)])
        # Warm: let Dovecot index the mailbox once (floor -k keeps all),
        # then keep its Maildir, indexes included, as the template.
        self.dc.refill(raw)
        sh([self.a.floor, "-k", "-p", str(self.dc.port), "-u", self.dc.user,
            "-w", self.dc.passfile, "-c", self.dc.ca])
        warm = os.path.join(self.srv, "tpl-" + wl)
        shutil.rmtree(warm, ignore_errors=True)
        sh(["cp", "-a", self.dc.maildir, warm])
        shutil.rmtree(raw)
        self.templates[wl] = warm
        self.manifests[wl] = manifest

    def one_run(self, case, wl, mode, client, port):
        """Refill, run one client once, check; return (wall, cpu, rss)."""
        st = self.fresh("state")
        os.makedirs(st)
        path = self.target(mode, client)
        self.dc.refill(self.templates[wl])
        if not self.a.tmpfs:
            # Flush the refill now, not during the client's own fsyncs.
            sh(["sync"])
        cmd = getattr(self, "cmd_" + client.replace(" ", "_").lower())(
            mode, path, port, st)
        errpath = os.path.join(self.root, "last-%s.err" % client)
        rc, wall, cpu, rss = timed(cmd, errpath)
        if rc != 0:
            with open(errpath, errors="replace") as f:
                sys.exit("bench: %s %s failed with exit %d: %s"
                         % (client, case, rc, f.read()[-2000:]))
        if not client.startswith("floor"):
            how = ["--mbox", path] if mode == "mbox" else ["--maildir", path]
            r = subprocess.run([sys.executable,
                                os.path.join(HERE, "check.py"),
                                "--manifest", self.manifests[wl]] + how)
            if r.returncode != 0:
                sys.exit("bench: %s delivered %s wrongly (see above)"
                         % (client, case))
        left = sum(len(os.listdir(os.path.join(self.dc.maildir, d)))
                   for d in ("new", "cur"))
        if left != 0:
            sys.exit("bench: %s left %d messages on the server in %s"
                     % (client, left, case))
        return wall, cpu, rss

    def runs_for(self, case, client):
        n = self.a.runs
        if client == "fetchmail":
            if case in ("W1", "W2"):
                return min(n, 2)
            return 1
        return n

    # -- main loop -------------------------------------------------------

    def run(self):
        os.makedirs(self.root, exist_ok=True)
        self.deliv = self.root
        self.templates = {}
        self.manifests = {}
        # The server's side (Dovecot, its Maildirs, the templates it is
        # refilled from) lives in memory, so that its deletions (every
        # run expunges the whole mailbox) never land on the file system
        # the clients deliver to.
        self.srv = self.root if self.a.tmpfs else tempfile.mkdtemp(
            prefix="popfetch-bench-server.", dir="/dev/shm")
        os.chmod(self.srv, 0o755)
        self.dc = Dovecot(self.srv)
        try:
            self.main_loop()
        finally:
            if self.proxy is not None:
                self.proxy.stop()
            self.dc.stop()
            if self.srv != self.root:
                shutil.rmtree(self.srv, ignore_errors=True)

    def main_loop(self):
        only = set(self.a.only.split(",")) if self.a.only else None
        cases = [c for c in CASES
                 if only is None or c[0] in only or
                 c[0].replace(" ", "-") in only or
                 (c[1] in only and c[0] == c[1])]
        fixed = [c for c, _ in FIXED_CASES
                 if only is None or c in only or c.replace(" ", "-") in
                 only or c.split()[0] in only]
        if not cases and not fixed:
            sys.exit("bench: --only matches no case (W0 W0-system W1 "
                     "W1-mbox W1-MDA W2 W3 W4 W5)")
        if fixed:
            self.fixed_loop(fixed)
        for wl in sorted({c[1] for c in cases}):
            self.generate(wl)
        for case, wl, mode in cases:
            port = self.dc.port
            if wl == "W3":
                port = self.w3_proxy()
            clients = ["floor", "popfetch", "mpop", "fetchmail"]
            clients[1:1] = STORING_FLOORS.get(case, [])
            if mode != "maildir":
                clients.remove("floor")
            if mode == "mbox":
                clients.remove("fetchmail")
            self.clients[case] = list(clients)
            rounds = max(self.runs_for(case, c) for c in clients)
            for r in range(rounds):
                k = r % len(clients)
                for client in clients[k:] + clients[:k]:
                    if r >= self.runs_for(case, client):
                        continue
                    wall, cpu, rss = self.one_run(case, wl, mode, client,
                                                  port)
                    self.results.setdefault((case, client), []).append(
                        (wall, cpu, rss))
                    self.log_run(case, client, r, wall, cpu, rss)

    def log_run(self, case, client, r, wall, cpu, rss):
        log("%-8s %-9s run %d: %7.3f s wall %6.3f s cpu %7.1f MiB"
            % (case, client, r + 1, wall, cpu, rss / 1024.0))

    def log_case(self, case, client):
        vals = self.results[(case, client)]
        log("%-9s %-14s %d runs: median %7.4f s wall %7.4f s cpu"
            % (case, client, len(vals),
               statistics.median(v[0] for v in vals),
               statistics.median(v[1] for v in vals)))

    def fixed_loop(self, fixed):
        """W0 (many short runs) and W5 (few long ones)."""
        f = Fixed(self)
        w0_runs = max(15, 8 * self.a.runs)
        for case in fixed:
            if case.startswith("W0"):
                f.w0(case, w0_runs)
        if "W5" in fixed:
            f.w5(1 if self.a.quick else max(1, min(self.a.runs, 3)))

    def w3_proxy(self):
        """Start the 5 ms proxy (once) after measuring a 0 ms one's cost."""
        if self.proxy is not None:
            return self.proxy.port
        p0 = Proxy(self.root, self.dc.port, 0)
        direct, via = [], []
        try:
            for _ in range(3):
                direct.append(self.one_run("W3", "W3", "maildir", "floor",
                                           self.dc.port)[0])
                via.append(self.one_run("W3", "W3", "maildir", "floor",
                                        p0.port)[0])
        finally:
            p0.stop()
        d, v = statistics.median(direct), statistics.median(via)
        self.notes.append(
            "W3 proxy cost: the floor on W3 takes %.3f s direct and %.3f s "
            "through faultproxy.py with --delay-ms 0 (medians of 3): the "
            "proxy adds %.0f ms before any delay." % (d, v, (v - d) * 1000))
        log(self.notes[-1])
        self.proxy = Proxy(self.root, self.dc.port, 5)
        return self.proxy.port

    # -- report --------------------------------------------------------

    def med(self, case, client, k):
        vals = self.results.get((case, client))
        if not vals:
            return None
        if k == 2:
            return max(v[2] for v in vals)
        return statistics.median(v[k] for v in vals)

    def table(self):
        rows = []
        verdicts = []
        all_cases = [(c, wl) for c, wl, _ in CASES] + \
            [(c, None) for c, _ in FIXED_CASES]
        for case, wl in all_cases:
            # W0 has a floor of its own (an empty mailbox); W5 none
            fl = self.med(wl or case, "floor", 0)
            mp = self.med(case, "mpop", 0)
            mpc = self.med(case, "mpop", 1)
            fixed = wl is None
            for client in self.clients.get(case, []):
                vals = self.results.get((case, client))
                if not vals:
                    continue
                wall = self.med(case, client, 0)
                cpu = self.med(case, client, 1)
                rss = self.med(case, client, 2) / 1024.0
                rf = "%.2f" % (wall / fl) if fl else "-"
                rm = "%.2f" % (wall / mp) if mp else "-"
                rc = "%.2f" % (cpu / mpc) if mpc else "-"
                target = "-"
                if client in ("popfetch", "popfetch -j8"):
                    target, why = self.target_met(case, wall, cpu, rss, fl,
                                                  mp, mpc)
                    for name in STORING_FLOORS.get(case, []):
                        sf = self.med(case, name, 0)
                        if sf:
                            why += "; %.2f x %s" % (wall / sf, name)
                    verdicts.append("%s: %s (%s)" % (case, target, why))
                digits = "%.4f" if case.startswith("W0") else "%.3f"
                rows.append((case, client, str(len(vals)), digits % wall,
                             digits % cpu, "-" if fixed else "%.1f" % rss,
                             rf, rm, rc, target))
        return rows, verdicts

    def target_met(self, case, wall, cpu, rss, fl, mp, mpc):
        """Return ("yes"/"no"/"n/a", explanation) for popfetch."""
        checks = []
        if case == "W1" and fl and mp and mpc:
            checks = [("wall <= 1.6 x floor", wall <= 1.6 * fl),
                      ("CPU <= 0.4 x mpop", cpu <= 0.4 * mpc)]
        elif case == "W2" and fl:
            checks = [("wall <= 1.1 x floor", wall <= 1.1 * fl)]
        elif case == "W3" and fl and mp:
            checks = [("wall <= 1.3 x floor", wall <= 1.3 * fl)]
        elif case == "W4":
            w1 = self.results.get(("W1", "popfetch"))
            m4 = self.results.get(("W4", "mpop"))
            if w1 and m4:
                r1 = max(v[2] for v in w1) / 1024.0
                r4m = max(v[2] for v in m4) / 1024.0
                checks = [("RSS <= 1.1 x W1 RSS (%.1f MiB)" % r1,
                           rss <= 1.1 * r1),
                          ("RSS < mpop (%.1f MiB)" % r4m, rss < r4m)]
        elif case == "W1 MDA" and mp:
            checks = [("wall <= 0.7 x mpop", wall <= 0.7 * mp)]
        elif case.startswith("W0") and mp and mpc:
            checks = [("wall <= 0.6 x mpop", wall <= 0.6 * mp),
                      ("CPU <= 0.6 x mpop", cpu <= 0.6 * mpc)]
        elif case == "W5" and mp and mpc:
            checks = [("-j8 wall <= 0.35 x mpop -a", wall <= 0.35 * mp),
                      ("-j8 CPU <= 0.8 x mpop", cpu <= 0.8 * mpc)]
        if not checks:
            return "n/a", "no target" if case == "W1 mbox" else \
                "a reference is missing"
        ok = all(c[1] for c in checks)
        return ("yes" if ok else "no"), "; ".join(
            "%s: %s" % (c[0], "met" if c[1] else "MISSED") for c in checks)


def fmt_table(rows):
    head = ("case", "client", "runs", "wall s", "CPU s", "peak RSS MiB",
            "x floor", "x mpop", "CPU x mpop", "target met")
    out = ["| " + " | ".join(head) + " |",
           "|" + "|".join("---" for _ in head) + "|"]
    for r in rows:
        out.append("| " + " | ".join(r) + " |")
    return "\n".join(out)


def version(cmd):
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=10)
        for line in r.stdout.splitlines():
            if line.strip() and "WARNING" not in line:
                return line.strip()
    except OSError:
        pass
    return "?"


def fstype(path):
    """Return the file system type of the mount that holds path."""
    best, kind = "", "?"
    path = os.path.realpath(path)
    with open("/proc/mounts") as f:
        for line in f:
            p = line.split()
            if (path == p[1] or path.startswith(p[1].rstrip("/") + "/")) \
                    and len(p[1]) > len(best):
                best, kind = p[1], p[2]
    return kind


# Settling the disk (bench/README.md, "Disk"): ext4 without a journal
# makes a file created soon after thousands were deleted nearby cost ten
# to twenty times more, for minutes. A sitting on disk first times the
# creation of PROBE_FILES files in the work directory and waits while
# that is slow.
PROBE_FILES = 400
PROBE_SLOW_US = 250     # settled here: about 100 us; just after: 500+
PROBE_WAIT_S = 30
PROBE_TRIES = 13        # 6 minutes of waiting at the most


def create_cost(root):
    """Microseconds a file to create (O_EXCL), write 4 KiB to and close
    PROBE_FILES files in a fresh directory under root."""
    d = tempfile.mkdtemp(prefix="probe.", dir=root)
    buf = b"x" * 4096
    t = time.perf_counter()
    for i in range(PROBE_FILES):
        fd = os.open(os.path.join(d, str(i)),
                     os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, buf)
        os.close(fd)
    return (time.perf_counter() - t) * 1e6 / PROBE_FILES


def settle(root):
    """Wait until creating files in root is no longer slow; a line for
    the report."""
    waited = 0
    for i in range(PROBE_TRIES):
        us = create_cost(root)
        log("disk: %.0f us to create a file" % us)
        if us <= PROBE_SLOW_US:
            return "file creation before the sitting: %.0f us a file%s" % (
                us, " (after waiting %d s for the disk to settle)" % waited
                if waited else "")
        if i + 1 < PROBE_TRIES:
            time.sleep(PROBE_WAIT_S)
            waited += PROBE_WAIT_S
    return ("file creation before the sitting: %.0f us a file: NOT "
            "settled after %d s, the disk figures are slowed" % (us, waited))


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    try:
        load = open("/proc/loadavg").read().split()[:3]
    except OSError:
        load = ["?"]
    return [
        "CPU: %s, %d CPUs (nproc)" % (cpu, os.cpu_count()),
        "kernel: %s %s" % (platform.system(), platform.release()),
        "load average at the end of the run: %s" % " ".join(load),
        "dovecot %s" % version(["dovecot", "--version"]),
        version(["mpop", "--version"]),
        version(["fetchmail", "--version"]),
        version(["openssl", "version"]),
        "popfetch: %s" % version([ARGS.popfetch, "--version"]),
    ]


def main():
    global ARGS
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--popfetch", required=True)
    ap.add_argument("--popfetch-base",
                    help="a second popfetch binary (e.g. the main branch's) "
                    "timed side by side on W0 and W5 as 'popfetch base'")
    ap.add_argument("--base-label", default="",
                    help="what the second binary is, for the report")
    ap.add_argument("--floor", required=True)
    ap.add_argument("--mda", required=True)
    ap.add_argument("--workdir")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only")
    ap.add_argument("--doc")
    ap.add_argument("--note", help="a line for the report and the charts "
                    "(e.g. 'busy machine')")
    ap.add_argument("--tmpfs", action="store_true",
                    help="work (server Maildir and deliveries) in /dev/shm")
    ap.add_argument("--command", default="bench/run")
    args = ap.parse_args()
    ARGS = args
    if args.quick:
        args.runs = min(args.runs, 3)
    tmp = None
    if args.workdir is None:
        tmp = args.workdir = tempfile.mkdtemp(
            prefix="popfetch-bench.",
            dir="/dev/shm" if args.tmpfs else None)
        os.chmod(tmp, 0o755)
    settled = None if args.tmpfs else settle(args.workdir)
    started = datetime.datetime.now(datetime.timezone.utc)
    b = Bench(args)
    try:
        b.run()
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    rows, verdicts = b.table()
    where = "/dev/shm (tmpfs): no disk I/O" if args.tmpfs else \
        "%s (%s)" % (os.path.dirname(args.workdir.rstrip("/")) or "/",
                     fstype(args.workdir))
    info = machine()
    if settled is not None:
        info.append(settled)
    if args.popfetch_base:
        info.append("popfetch base: %s (%s)" % (
            args.popfetch_base, args.base_label or "second binary"))
    if args.note:
        info.insert(0, "note: " + args.note)
    fixed_names = [c for c, _ in FIXED_CASES]
    groups = [("", [r for r in rows if r[0] not in fixed_names]),
              ("-fixed", [r for r in rows if r[0] in fixed_names])]
    for suffix, part in groups:
        if not part:
            continue
        table = fmt_table(part)
        mine = [v for v in verdicts
                if (v.split(":")[0] in fixed_names) == (suffix != "")]
        print()
        print(table)
        print()
        for v in mine:
            print("popfetch " + v)
        notes = b.notes if suffix == "" else b.fixed_notes
        for n in notes:
            print(n)
        if args.doc:
            charts = draw_charts(b, args, suffix, part)
            write_doc(args, suffix, table, mine, notes, info, where,
                      started, charts)


def draw_charts(b, args, suffix, rows):
    """Charts of rows next to the doc (docs/bench/); [(title, path)]."""
    try:
        import chart
    except ImportError as e:
        log("no charts: %s (install python3-matplotlib)" % e)
        return []
    key = ("tmpfs" if args.tmpfs else "disk") + suffix
    outdir = os.path.join(os.path.dirname(os.path.abspath(args.doc)),
                          "bench")
    try:
        return chart.draw(b.results, b.clients, [r[0] for r in rows],
                          outdir, key, args.note)
    except ImportError as e:
        log("no charts: %s (install python3-matplotlib)" % e)
        return []


def write_doc(args, suffix, table, verdicts, notes, info, where, started,
              charts):
    """Replace this mode's section (disk or tmpfs, the fixed-cost
    workloads in their own) of docs/benchmarks.md."""
    key = ("tmpfs" if args.tmpfs else "disk") + suffix
    text = []
    text.append("<!-- bench:%s -->" % key)
    text.append("## %s on %s\n" % (
        "Fixed costs (W0, W5)" if suffix else "Deliveries",
        "tmpfs" if args.tmpfs else "disk"))
    text.append("- date: %s" % started.strftime("%Y-%m-%d %H:%M UTC"))
    text.append("- command: `%s`" % args.command)
    if suffix:
        text.append("- runs per client: W0 %d, W5 %d; medians of wall "
                    "and CPU (os.wait4)" % (
                        max(15, 8 * args.runs),
                        1 if args.quick else max(1, min(args.runs, 3))))
    else:
        text.append("- runs per client: %d (fetchmail fewer: 2 for W1 and "
                    "W2, 1 otherwise), medians; peak RSS is the largest of "
                    "the runs" % args.runs)
    if args.tmpfs:
        text.append("- server Maildir and deliveries on: %s" % where)
    else:
        text.append("- deliveries and client state on: %s, each run in a "
                    "directory of its own, nothing deleted until the end; "
                    "the server's Maildir in /dev/shm" % where)
    for line in info:
        text.append("- " + line)
    text.append("")
    text.append(table)
    text.append("")
    text.append("Targets for popfetch:\n")
    for v in verdicts:
        text.append("- " + v)
    for n in notes:
        text.append("")
        text.append(n)
    for title, path in charts:
        text.append("")
        text.append("![%s](%s)" % (title, os.path.relpath(
            path, os.path.dirname(os.path.abspath(args.doc)))))
    text.append("<!-- /bench:%s -->" % key)
    section = "\n".join(text) + "\n"
    old = ""
    if os.path.exists(args.doc):
        with open(args.doc) as f:
            old = f.read()
    start, end = "<!-- bench:%s -->" % key, "<!-- /bench:%s -->\n" % key
    if start in old and end in old:
        i, j = old.index(start), old.index(end) + len(end)
        new = old[:i] + section + old[j:]
    else:
        if not old:
            old = ("# Benchmarks\n\nThe latest figures of `bench/run`; "
                   "bench/README.md says what each workload and client "
                   "does and how it is measured.\n")
        new = old.rstrip("\n") + "\n\n" + section
    with open(args.doc, "w") as f:
        f.write(new)


if __name__ == "__main__":
    main()
