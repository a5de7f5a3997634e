"""fixed.py: W0 and W5, the fixed cost of a run and of an account.

Used by bench.py. W0 is a cron poll that finds nothing: one account, an
empty mailbox, many runs (medians), once with the CA given as a file and
once with the system trust store. W5 is 200 accounts of 20 x 4 KiB each,
fetched with -a: popfetch with -j 1, 2, 8 and 32 against mpop -a (mpop
has no parallel mode). Both are timed with os.wait4 (CPU of the client
and every process it waited for, at microsecond resolution: GNU time
rounds to 10 ms, which is most of a W0 run).
"""

import os
import shutil
import statistics
import subprocess
import sys
import time

W5_ACCOUNTS, W5_COUNT, W5_SIZE = 200, 20, 4096
W5_JOBS = (1, 2, 8, 32)
W5_BASE_JOBS = (8,)

# case label -> description, for the report
FIXED_CASES = [
    ("W0", "1 account, empty mailbox, CA file"),
    ("W0 system", "1 account, empty mailbox, system trust store"),
    ("W5", "200 accounts x 20 x 4 KiB, -a"),
]


def timed_wait4(cmd, errpath, env=None):
    """Run cmd; return (exit code, wall s, cpu s, peak RSS KiB)."""
    with open(errpath, "wb") as err:
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=err, env=env)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss


def tree_cpu(root):
    """CPU seconds used so far by process root and its descendants: the
    live ones (each with what it reaped) and, through root's own
    cutime and cstime, the ones root reaped (Dovecot's master reaps its
    login, auth and pop3 processes). /proc's clock ticks are 10 ms, so
    this is for runs of many processes, not for one."""
    tck = os.sysconf("SC_CLK_TCK")
    parent, ticks = {}, {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                s = f.read()
        except OSError:
            continue
        rest = s[s.rindex(")") + 2:].split()
        parent[int(d)] = int(rest[1])
        ticks[int(d)] = sum(int(x) for x in rest[11:15])
    total = 0
    for pid, t in ticks.items():
        p = pid
        while p > 1 and p != root:
            p = parent.get(p, 0)
        if p == root:
            total += t
    return total / tck


def private_file(path, text):
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
              "w") as f:
        f.write(text)


class Fixed:
    """W0 and W5 against the Bench's Dovecot."""

    def __init__(self, bench):
        self.b = bench
        self.a = bench.a
        self.dc = bench.dc
        self.root = os.path.join(bench.root, "fixed")
        shutil.rmtree(self.root, ignore_errors=True)
        os.makedirs(self.root)
        os.chmod(self.root, 0o755)
        self.trust()

    # -- trust stores ----------------------------------------------------

    def trust(self):
        """A system store that also trusts the test CA: a hash directory
        (the system's links plus one for the test CA) for popfetch, and
        the system bundle plus the test CA for mpop (GnuTLS reads one
        file). Both clients pay what a real system store costs."""
        sysdir = "/etc/ssl/certs"
        self.certdir = os.path.join(self.root, "certs")
        os.makedirs(self.certdir)
        for name in os.listdir(sysdir):
            src = os.path.join(sysdir, name)
            if os.path.islink(src) or name.endswith(".pem"):
                os.symlink(os.path.realpath(src),
                           os.path.join(self.certdir, name))
        h = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in",
                            self.dc.ca], check=True, text=True,
                           stdout=subprocess.PIPE).stdout.strip()
        os.symlink(self.dc.ca, os.path.join(self.certdir, h + ".0"))
        self.bundle = os.path.join(self.root, "bundle.pem")
        with open(self.bundle, "wb") as out:
            for f in (os.path.join(sysdir, "ca-certificates.crt"),
                      self.dc.ca):
                with open(f, "rb") as src:
                    out.write(src.read())
        # cron starts jobs without the SSL_CERT_* a login shell may set
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith("SSL_CERT_")}
        self.sysenv = dict(self.env, SSL_CERT_DIR=self.certdir)

    # -- configurations ----------------------------------------------------

    def popfetch_conf(self, path, accounts, ca):
        """A popfetch config for (name, user, maildir) accounts, all with
        their state in the bench's directory (a defaults block: a key
        after the last account would be that account's alone)."""
        text = "defaults\n state_dir %s\n" % os.path.join(
            os.path.dirname(path), "state")
        for name, user, maildir in accounts:
            text += ("account %s\n host localhost\n port %d\n user %s\n"
                     " password %s\n maildir %s\n"
                     % (name, self.dc.port, user, self.dc.password,
                        maildir))
            if ca:
                text += " ca_file %s\n" % self.dc.ca
        text += "default %s\n" % accounts[0][0]
        private_file(path, text)

    def mpop_conf(self, path, accounts, trust):
        text = ("defaults\nhost localhost\nport %d\ntls on\n"
                "tls_starttls off\ntls_trust_file %s\npassword %s\n"
                "keep off\nonly_new off\nuidls_file %s\n"
                % (self.dc.port, trust, self.dc.password,
                   os.path.join(os.path.dirname(path), "uidls")))
        for name, user, maildir in accounts:
            text += ("\naccount %s\nuser %s\ndelivery maildir %s\n"
                     % (name, user, maildir))
        private_file(path, text)

    @staticmethod
    def maildir(path):
        shutil.rmtree(path, ignore_errors=True)
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(path, sub))
        return path

    # -- W0 ----------------------------------------------------------------

    def w0_clients(self):
        # the floor: TLS, USER/PASS, STAT, QUIT and nothing else (on the
        # CA file only: it has no system trust store to look up)
        out = ["floor", "popfetch"]
        if self.a.popfetch_base:
            out.append("popfetch base")
        return out + ["mpop"]

    def w0(self, case, runs):
        """Many cron polls of an empty mailbox; state kept between runs,
        as cron's would be."""
        system = case == "W0 system"
        clients = self.w0_clients()
        self.b.clients[case] = clients
        cmds = {}
        acct = [("bench", self.dc.user, None)]
        for c in clients:
            d = os.path.join(self.root, "w0-" + c.replace(" ", "-") +
                             ("-sys" if system else ""))
            os.makedirs(d, exist_ok=True)
            acct = [("bench", self.dc.user, self.maildir(
                os.path.join(d, "out")))]
            cfg = os.path.join(d, "conf")
            if c == "floor":
                cmds[c] = self.b.cmd_floor("maildir", None, self.dc.port,
                                           None)
            elif c.startswith("popfetch"):
                self.popfetch_conf(cfg, acct, not system)
                binary = self.a.popfetch if c == "popfetch" else \
                    self.a.popfetch_base
                cmds[c] = [binary, "-C", cfg, "-q"]
            else:
                self.mpop_conf(cfg, acct,
                               self.bundle if system else self.dc.ca)
                cmds[c] = ["mpop", "-C", cfg, "-q", "bench"]
        self.dc.refill_empty()
        env = self.sysenv if system else self.env
        for r in range(runs):
            k = r % len(clients)
            for c in clients[k:] + clients[:k]:
                self.record(case, c, cmds[c], env)
        for c in clients:
            self.b.log_case(case, c)

    def record(self, case, client, cmd, env):
        errpath = os.path.join(self.root, "last.err")
        # Dovecot's own CPU: for W5's bound only (a W0 run is too short
        # for /proc's 10 ms ticks)
        server0 = tree_cpu(self.dc.pid) if case == "W5" else None
        rc, wall, cpu, rss = timed_wait4(cmd, errpath, env)
        if server0 is not None:
            self.b.server_cpu.setdefault((case, client), []).append(
                tree_cpu(self.dc.pid) - server0)
        if rc != 0:
            with open(errpath, errors="replace") as f:
                sys.exit("bench: %s %s failed with exit %d: %s"
                         % (client, case, rc, f.read()[-2000:]))
        self.b.results.setdefault((case, client), []).append(
            (wall, cpu, rss))
        return wall, cpu

    # -- W5 ----------------------------------------------------------------

    def w5_setup(self):
        """200 users in Dovecot's passwd-file, each with a home of its
        own, and a warmed 20-message Maildir as their template."""
        dcdir = self.dc.env["DC_DIR"]
        pw = os.path.join(dcdir, "passwd")
        with open(pw) as f:
            alice = f.readline().rstrip("\n").split(":")
        self.w5home = os.path.join(dcdir, "w5")
        os.makedirs(self.w5home, exist_ok=True)
        os.chmod(self.w5home, 0o755)
        self.users = ["w5u%03d" % i for i in range(W5_ACCOUNTS)]
        with open(pw, "a") as f:
            for u in self.users:
                f.write("%s:{PLAIN}%s:%s:%s::%s::\n"
                        % (u, self.dc.password, alice[2], alice[3],
                           os.path.join(self.w5home, u)))
        # Dovecot looks at its passwd-file again at most once a second:
        # wait, so that the next login (the warm-up below) reloads it
        # and the first W5 account is known (on tmpfs everything up to
        # that login can take less than a second).
        time.sleep(1.1)
        self.b.generate("W5")
        self.template = self.b.templates["W5"]

    def w5_refill(self):
        for u in self.users:
            home = os.path.join(self.w5home, u)
            shutil.rmtree(home, ignore_errors=True)
            os.makedirs(home)
            subprocess.run(["cp", "-a", self.template,
                            os.path.join(home, "Maildir")], check=True)
        if os.getuid() == 0:
            subprocess.run(["chown", "-R", self.dc.mailuser + ":",
                            self.w5home], check=True)
        if not self.a.tmpfs:
            subprocess.run(["sync"], check=True)

    def w5_clients(self):
        out = ["popfetch -j%d" % j for j in W5_JOBS]
        if self.a.popfetch_base:
            out += ["popfetch base -j%d" % j for j in W5_BASE_JOBS]
        return out + ["mpop"]

    def w5_cmd(self, client, d, accounts):
        cfg = os.path.join(d, "conf")
        if client == "mpop":
            self.mpop_conf(cfg, accounts, self.dc.ca)
            return ["mpop", "-C", cfg, "-q", "-a"]
        self.popfetch_conf(cfg, accounts, True)
        binary = self.a.popfetch_base if client.startswith(
            "popfetch base") else self.a.popfetch
        jobs = client.rsplit("-j", 1)[1]
        return [binary, "-C", cfg, "-q", "-a", "-j", jobs]

    def w5_run(self, client):
        d = self.b.fresh("w5")
        os.makedirs(d)
        accounts = [(u, u, self.maildir(os.path.join(d, "out", u)))
                    for u in self.users]
        cmd = self.w5_cmd(client, d, accounts)
        self.w5_refill()
        wall, cpu = self.record("W5", client, cmd, self.env)
        r = subprocess.run(
            [sys.executable, os.path.join(os.path.dirname(__file__),
                                          "check.py"),
             "--manifest", self.b.manifests["W5"]] +
            [x for a in accounts for x in ("--maildir", a[2])])
        if r.returncode != 0:
            sys.exit("bench: %s delivered W5 wrongly (see above)" % client)
        left = sum(len(os.listdir(os.path.join(self.w5home, u, "Maildir",
                                               s)))
                   for u in self.users for s in ("new", "cur"))
        if left:
            sys.exit("bench: %s left %d messages on the server in W5"
                     % (client, left))
        return wall, cpu

    def w5(self, runs):
        self.w5_setup()
        clients = self.w5_clients()
        self.b.clients["W5"] = clients
        for r in range(runs):
            k = r % len(clients)
            for c in clients[k:] + clients[:k]:
                wall, cpu = self.w5_run(c)
                self.b.log_run("W5", c, r, wall, cpu, 0)
        self.w5_bound(clients)

    def w5_bound(self, clients):
        """What Dovecot's own CPU leaves possible: on N CPUs no run of W5
        can take less than (client CPU + server CPU) / N."""
        ncpu = os.cpu_count() or 1
        mp = self.b.med("W5", "mpop", 0)
        parts = []
        for c in clients:
            srv = self.b.server_cpu.get(("W5", c))
            if not srv:
                continue
            s = statistics.median(srv)
            cpu = self.b.med("W5", c, 1)
            bound = (s + cpu) / ncpu
            parts.append("%s: Dovecot %.2f s CPU, client %.2f s, so at "
                         "least %.2f s on %d CPUs%s"
                         % (c, s, cpu, bound, ncpu,
                            " = %.2f x mpop -a" % (bound / mp) if mp
                            else ""))
        if parts:
            self.b.fixed_notes.append(
                "W5 server cost (Dovecot's processes, from /proc): " +
                "; ".join(parts) + ".")
            print("bench: " + self.b.fixed_notes[-1], file=sys.stderr,
                  flush=True)
