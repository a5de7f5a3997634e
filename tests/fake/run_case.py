#!/usr/bin/env python3
"""Run one scripted fault-server case against popfetch.

    python3 run_case.py --popfetch PATH [--certs DIR] [--keep] CASEFILE

Exit status 0 when every run of the case meets its expectations, 1 when
one does not (the transcript, popfetch's output and the reasons are
printed), 2 when the case file itself is malformed. The case format is in
tests/fake/README.md. Python 3 standard library only.
"""

import argparse
import base64
import fcntl
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import popserver  # noqa: E402
import smtpserver  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
MKCERTS = os.path.join(HERE, '..', 'tls', 'mkcerts.sh')
DEFAULT_PASSWORD = 'pw-Secr3t-xyzzy'
USER = 'alice'


def cert_dir(popfetch, override):
    """Make the test PKI once per build tree (locked: ctest -j)."""
    d = override or os.environ.get('PF_FAKE_CERTS')
    if not d:
        d = os.path.join(os.path.dirname(os.path.abspath(popfetch)),
                         'fake-certs')
    os.makedirs(d, exist_ok=True)
    stamp = os.path.join(d, '.complete')
    with open(os.path.join(d, '.lock'), 'w') as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        if not os.path.exists(stamp):
            r = subprocess.run(['bash', MKCERTS, d], capture_output=True)
            if r.returncode != 0:
                sys.stderr.write(r.stderr.decode('utf-8', 'replace'))
                raise RuntimeError('mkcerts.sh failed (exit %d)'
                                   % r.returncode)
            open(stamp, 'w').close()
    return d


def is_sanitized_build(path):
    """ASan builds use far more memory: skip the RSS limits for them."""
    try:
        with open(path, 'rb') as f:
            return b'__asan_init' in f.read()
    except OSError:
        return False


def secrets_of(password):
    """Byte strings that must never appear in any output or state file."""
    pw = password.encode()
    out = [pw, base64.b64encode(pw)]
    plain = b'\0' + USER.encode() + b'\0' + pw
    out += [plain[1:], base64.b64encode(plain),
            base64.b64encode(USER.encode() + b'\0' + USER.encode() + b'\0'
                             + pw)]
    return [s for s in out if len(s) >= 6]


def fingerprint(certs, name):
    """SHA-256 of the DER form of certs/NAME.pem, hex with colons."""
    import hashlib
    import ssl
    with open(os.path.join(certs, name + '.pem')) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    h = hashlib.sha256(der).hexdigest().upper()
    return ':'.join(h[i:i + 2] for i in range(0, len(h), 2))


def build_argv(run, popfetch, port, tmp, certs, pwfile, state, maildir,
               smtpport=0):
    subst = {'port': str(port), 'tmp': tmp, 'state': state,
             'maildir': maildir, 'certs': certs or '', 'pwfile': pwfile,
             'user': USER, 'smtpport': str(smtpport)}
    args = []
    for a in run.get('args', []):
        for x in shlex.split(a):
            x = re.sub(r'\{fp:([\w-]+)\}',
                       lambda m: fingerprint(certs, m.group(1)), x)
            args.append(x.format(**subst))
    if run.get('standard-args', 'yes') == 'no':
        return [popfetch] + args
    tls = run.get('tls', 'none')
    argv = [popfetch, '--host', run.get('host', '127.0.0.1'),
            '--port', str(port), '--user', USER,
            '--password-command', 'cat ' + shlex.quote(pwfile),
            '--state-dir', state]
    if tls == 'none':
        argv.append('--no-tls')
        auth = run.get('auth', 'user')
    elif tls == 'implicit':
        argv += ['--tls', '--ca-file', os.path.join(certs, 'ca.pem')]
        auth = run.get('auth', 'default')
    elif tls == 'starttls':
        argv += ['--starttls', '--ca-file', os.path.join(certs, 'ca.pem')]
        auth = run.get('auth', 'default')
    else:
        raise popserver.CaseError('tls must be none, implicit or starttls')
    if auth != 'default':
        argv += ['--auth', auth]
    if run.get('quiet', 'yes') == 'yes':
        argv.append('-q')
    if not any(a.startswith('--timeout') for a in args):
        argv += ['--timeout', '5']
    delivery = ('--maildir', '--mbox', '--mda', '--stdout', '--lmtp',
                '--smtp')
    if run.get('delivery', 'maildir') == 'maildir' and \
            not any(a.split('=')[0] in delivery for a in args):
        argv += ['--maildir', maildir]
    return argv + args


def strip_received(data, want):
    """Drop our leading Received: field; return (rest_offset, problem)."""
    if not want:
        return 0, None
    if not data.startswith(b'Received: from '):
        return 0, 'no leading "Received: from " field'
    end = 0
    while True:
        nl = data.find(b'\n', end)
        if nl < 0:
            return 0, 'Received: field not terminated'
        end = nl + 1
        if end >= len(data) or data[end:end + 1] not in (b' ', b'\t'):
            break
    if b'(popfetch' not in data[:end]:
        return 0, 'Received: field lacks "(popfetch"'
    return end, None


def expected_size(segs):
    return sum(s[1] if isinstance(s, tuple) else len(s) for s in segs)


def file_matches(path, off, segs):
    """Stream-compare path[off:] with the expected segments."""
    with open(path, 'rb') as f:
        f.seek(off)
        for s in segs:
            if isinstance(s, tuple):
                done = 0
                while done < s[1]:
                    n = min(1 << 20, s[1] - done)
                    if f.read(n) != popserver.big_bytes(done, n):
                        return False
                    done += n
            elif f.read(len(s)) != s:
                return False
        return f.read(1) == b''


def maildir_messages(maildir):
    out = []
    for sub in ('new', 'cur'):
        d = os.path.join(maildir, sub)
        if os.path.isdir(d):
            out += [os.path.join(d, n) for n in sorted(os.listdir(d))]
    return out


def show_segs(segs):
    parts = []
    for s in segs:
        parts.append('<%d pattern bytes>' % s[1] if isinstance(s, tuple)
                     else repr(s)[2:-1])
    return ''.join(parts)


def check_maildir(run, maildir, problems, want_received):
    tmpd = os.path.join(maildir, 'tmp')
    if os.path.isdir(tmpd) and os.listdir(tmpd):
        problems.append('Maildir tmp/ not empty: %s' % os.listdir(tmpd))
    files = maildir_messages(maildir)
    if 'maildir-count' in run.header:
        n = int(run.header['maildir-count'])
        if len(files) != n:
            problems.append('Maildir holds %d messages, expected %d'
                            % (len(files), n))
    if not run.delivers:
        return
    left = list(run.delivers)
    for path in files:
        with open(path, 'rb') as f:
            head = f.read(8192)
        off, why = strip_received(head, want_received)
        if why:
            problems.append('%s: %s' % (os.path.basename(path), why))
            continue
        size = os.path.getsize(path) - off
        hit = None
        for segs in left:
            if expected_size(segs) == size and file_matches(path, off, segs):
                hit = segs
                break
        if hit is None:
            with open(path, 'rb') as f:
                f.seek(off)
                got = f.read(600)
            problems.append('unexpected message %s (%d bytes): %s'
                            % (os.path.basename(path), size,
                               repr(got)[2:-1]))
        else:
            left.remove(hit)
    for segs in left:
        problems.append('expected message not delivered: %s'
                        % show_segs(segs)[:600])


def scan_secrets(tmp, pwfile, blobs, secrets, problems):
    for name, data in blobs:
        for s in secrets:
            if s in data:
                problems.append('secret %r found in %s' % (s, name))
    for root, _, files in os.walk(tmp):
        for n in files:
            p = os.path.join(root, n)
            if p == pwfile or os.path.islink(p):
                continue
            try:
                if os.path.getsize(p) > (4 << 20):
                    continue
                with open(p, 'rb') as f:
                    data = f.read()
            except OSError:
                continue
            for s in secrets:
                if s in data:
                    problems.append('secret %r found in file %s'
                                    % (s, os.path.relpath(p, tmp)))


def read_hwm(pid):
    """VmHWM of a live process in KiB, or 0."""
    try:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def wait_child(proc, limit, sig_at=None):
    """Wait for proc up to limit seconds; returns (status, peak_kb, late,
    seconds from the SIGTERM sent sig_at seconds after start to the exit).

    The peak RSS comes from polling VmHWM: ru_maxrss of the child would
    include the pages of this Python process it was forked from."""
    t0 = time.monotonic()
    deadline = t0 + limit
    peak = 0
    t_sig = None
    while True:
        peak = max(peak, read_hwm(proc.pid))
        pid, status, _ = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            return (status, peak, False,
                    None if t_sig is None else time.monotonic() - t_sig)
        if sig_at is not None and t_sig is None and \
                time.monotonic() - t0 >= sig_at:
            proc.send_signal(signal.SIGTERM)
            t_sig = time.monotonic()
        if time.monotonic() >= deadline:
            proc.kill()
            pid, status, _ = os.wait4(proc.pid, 0)
            return status, peak, True, None
        time.sleep(0.003)


def start_smtp(run, opts, certs):
    """The run's scripted LMTP/SMTP server (header smtp: FILE, next to
    the case file), started; or None."""
    name = run.get('smtp')
    if name is None:
        return None
    path = os.path.join(os.path.dirname(os.path.abspath(opts.case)), name)
    try:
        scase = smtpserver.parse_case(path)
    except (smtpserver.CaseError, OSError) as e:
        raise popserver.CaseError('smtp: %s: %s' % (name, e))
    msrv = smtpserver.SmtpServer(certs)
    msrv.start(scase)
    return msrv


def do_run(idx, run, opts, srv, tmp, certs, pwfile, state, maildir, asan):
    problems = []
    tls = run.get('tls', 'none')
    password = run.get('password', DEFAULT_PASSWORD)
    with open(pwfile, 'w') as f:
        f.write(password + '\n')
    msrv = start_smtp(run, opts, certs)
    argv = build_argv(run, opts.popfetch, srv.port, tmp, certs, pwfile,
                      state, maildir, msrv.port if msrv else 0)
    implicit = run.get('cert', 'localhost') if tls == 'implicit' else None
    if implicit == 'none':
        implicit = None
    srv.start(run.script, run.get('trailing') == 'ignore', implicit,
              run.get('connect', 'yes'))
    out_p = os.path.join(tmp, 'stdout.%d' % idx)
    err_p = os.path.join(tmp, 'stderr.%d' % idx)
    limit = float(run.get('timeout', '10'))
    t0 = time.monotonic()
    with open(out_p, 'wb') as fo, open(err_p, 'wb') as fe:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=fo,
                                stderr=fe, cwd=tmp)
        sig_at = run.header.get('sigterm-after')
        status, peak_kb, late, after_sig = wait_child(
            proc, limit, float(sig_at) if sig_at is not None else None)
    elapsed = time.monotonic() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    failures, transcript = srv.finish()
    problems += failures
    if msrv is not None:
        msrv.finish()
        msrv.close()
        problems += ['mail server: ' + f for f in msrv.failures]
        transcript = transcript + ['--- mail server'] + msrv.transcript
    with open(out_p, 'rb') as f:
        out = f.read()
    with open(err_p, 'rb') as f:
        err = f.read()
    code = proc.returncode
    if late:
        problems.append('popfetch still running after %.1f s: killed' % limit)
    elif code < 0:
        problems.append('popfetch killed by signal %d' % -code)
    want = int(run.get('exit', '0'))
    if not late and code != want:
        problems.append('exit status %d, expected %d' % (code, want))
    hi = run.header.get('max-seconds')
    if hi is not None and elapsed > float(hi):
        problems.append('took %.2f s, more than %s' % (elapsed, hi))
    stop = run.header.get('sigterm-stop-seconds')
    if stop is not None and not late:
        if after_sig is None:
            problems.append('popfetch exited before the SIGTERM')
        elif after_sig > float(stop):
            problems.append('took %.2f s after SIGTERM, more than %s'
                            % (after_sig, stop))
    lo = run.header.get('min-seconds')
    if lo is not None and elapsed < float(lo):
        problems.append('took %.2f s, less than %s' % (elapsed, lo))
    # stderr: one clear line on failure, nothing on success
    etext = err.decode('utf-8', 'backslashreplace')
    lines = etext.splitlines()
    nl = run.get('stderr-lines', '0' if want == 0 else '1')
    if nl != 'any' and len(lines) != int(nl):
        problems.append('stderr has %d lines, expected %s' % (len(lines), nl))
    if want != 0 and nl == '1' and lines and \
            not lines[0].startswith('popfetch: '):
        problems.append('stderr line does not start with "popfetch: "')
    for rx in run.get('stderr', []):
        if not re.search(rx, etext, re.M):
            problems.append('stderr does not match /%s/' % rx)
    for rx in run.get('stderr-not', []):
        if re.search(rx, etext, re.M):
            problems.append('stderr matches the forbidden /%s/' % rx)
    bad = re.search(rb'[\x00-\x08\x0b-\x1f\x7f]', err)
    if bad:
        problems.append('raw control byte %r on stderr' % bad.group(0))
    if 'stdout' in run.header:
        if not re.search(run.header['stdout'],
                         out.decode('utf-8', 'backslashreplace'), re.M):
            problems.append('stdout does not match /%s/'
                            % run.header['stdout'])
    elif run.get('delivery', 'maildir') == 'maildir' and out and \
            run.get('quiet', 'yes') == 'yes':
        problems.append('unexpected output on stdout')
    if 'rss-max-kb' in run.header:
        limit_kb = int(run.header['rss-max-kb'])
        if asan:
            print('note: sanitizer build, RSS limit %d KiB not checked '
                  '(peak %d KiB)' % (limit_kb, peak_kb))
        elif peak_kb > limit_kb:
            problems.append('peak RSS %d KiB, limit %d KiB'
                            % (peak_kb, limit_kb))
    want_received = not any('--no-received' in a
                            for a in run.get('args', []))
    if os.path.isdir(maildir) or run.delivers or \
            'maildir-count' in run.header:
        if not os.path.isdir(maildir) and (
                run.delivers or int(run.header.get('maildir-count', 0))):
            problems.append('no Maildir was created')
        else:
            check_maildir(run, maildir, problems, want_received)
    if run.get('no-secret', 'yes') == 'yes':
        scan_secrets(tmp, pwfile, [('stdout', out), ('stderr', err)],
                     secrets_of(password), problems)
    ok = not problems
    if not ok or opts.verbose:
        print('=== run %d: %s' % (idx + 1, 'FAIL' if problems else 'ok'))
        print('argv: %s' % ' '.join(shlex.quote(a) for a in argv))
        print('exit %d after %.2f s, peak RSS %d KiB'
              % (code, elapsed, peak_kb))
        print('--- transcript')
        for t in transcript:
            print('  ' + t)
        print('--- stderr')
        sys.stdout.write(etext if etext else '(empty)\n')
        if out:
            print('--- stdout (first 2000 bytes)')
            print(out[:2000].decode('utf-8', 'backslashreplace'))
        for p in problems:
            print('FAIL: ' + p)
    return ok


def main(argv):
    ap = argparse.ArgumentParser(description='run one fake-server case')
    ap.add_argument('--popfetch', required=True)
    ap.add_argument('--certs', help='test PKI directory (made if missing)')
    ap.add_argument('--keep', action='store_true',
                    help='keep the temporary directory')
    ap.add_argument('-v', '--verbose', action='store_true')
    ap.add_argument('case')
    opts = ap.parse_args(argv)
    try:
        case = popserver.parse_case(opts.case)
    except (popserver.CaseError, OSError) as e:
        print('%s: %s' % (opts.case, e))
        return 2
    certs = None
    needs_tls = any(r.get('tls', 'none') != 'none' or
                    any(s.kind == '!tls' for s in r.script) or
                    any('{fp:' in a for a in r.get('args', []))
                    for r in case.runs)
    if needs_tls or opts.certs:
        certs = cert_dir(opts.popfetch, opts.certs)
    asan = is_sanitized_build(opts.popfetch)
    tmp = tempfile.mkdtemp(prefix='pf-fake-')
    pwfile = os.path.join(tmp, 'pw')
    state = os.path.join(tmp, 'state')
    maildir = os.path.join(tmp, 'Maildir')
    srv = popserver.PopServer(certs)
    ok = True
    try:
        for i, run in enumerate(case.runs):
            if not do_run(i, run, opts, srv, tmp, certs, pwfile, state,
                          maildir, asan):
                ok = False
                break
    except popserver.CaseError as e:
        print('%s: %s' % (opts.case, e))
        return 2
    finally:
        srv.close()
        if opts.keep or (not ok and os.environ.get('PF_FAKE_KEEP')):
            print('kept %s' % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print('%s: %s' % (os.path.basename(opts.case), 'ok' if ok else 'FAIL'))
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
