#!/usr/bin/env python3
"""Run one scripted SMTP/LMTP case against the smtp module's driver.

    python3 run_smtp_case.py --smtp-send PATH [--certs DIR] [-v] [--keep] \\
        CASEFILE

Starts smtpserver.py on 127.0.0.1 (port 0), writes the case's messages to
files, runs smtp-send (tests/unit/smtp-send.c) with them against the
server, and checks its exit status, its per-message result lines and
stderr, and the server's transcript. Exit status: 0 pass, 1 fail (the
transcript, the driver's output and every reason are printed), 2 for a
malformed case file. The case format is in tests/fake/README.md.
"""

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run_case  # noqa: E402  (cert_dir: the shared test PKI)
import smtpserver  # noqa: E402


def check(case, proc, secs, srv, nmsg):
    """Every reason the run failed; empty when it passed."""
    why = list(srv.failures)
    want = int(case.get('exit', '0'))
    if proc.returncode != want:
        why.append('exit status %d, expected %d' % (proc.returncode, want))
    out, err = proc.stdout, proc.stderr
    for rx in case.get('stdout', []):
        if not re.search(rx, out, re.M):
            why.append('stdout does not match %r' % rx)
    for rx in case.get('stderr', []):
        if not re.search(rx, err, re.M):
            why.append('stderr does not match %r' % rx)
    for rx in case.get('stderr-not', []):
        if re.search(rx, err, re.M):
            why.append('stderr matches %r' % rx)
    if re.search(r'[\x00-\x08\x0b-\x1f\x7f]', out + err):
        why.append('a raw control byte in the output (server text must '
                   'be escaped)')
    # Never a success for a message the script did not accept.
    delivered = case.get('delivered', '')
    allowed = {int(x) for x in delivered.replace(',', ' ').split()}
    for line in out.splitlines():
        m = re.match(r'^(\d+) (delivered|tempfail|permfail) ', line)
        if not m:
            why.append('bad result line %r' % line)
            continue
        n, outcome = int(m.group(1)), m.group(2)
        if outcome == 'delivered' and n not in allowed:
            why.append('message %d reported delivered' % n)
        if outcome != 'delivered' and n in allowed:
            why.append('message %d not delivered: %s' % (n, line))
    if case.get('stderr') is None and want != 0 and not err.strip():
        why.append('no error message on stderr')
    if 'max-seconds' in case.header and secs > float(case.get('max-seconds')):
        why.append('took %.1f s, more than %s' % (secs,
                                                 case.get('max-seconds')))
    if 'min-seconds' in case.header and secs < float(case.get('min-seconds')):
        why.append('took %.1f s, less than %s' % (secs,
                                                 case.get('min-seconds')))
    return why


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument('--smtp-send', required=True)
    ap.add_argument('--certs')
    ap.add_argument('--keep', action='store_true')
    ap.add_argument('-v', action='store_true')
    ap.add_argument('case')
    opts = ap.parse_args(argv)
    try:
        case = smtpserver.parse_case(opts.case)
    except (smtpserver.CaseError, OSError) as e:
        print('%s: %s' % (opts.case, e))
        return 2
    certs = None
    tls = case.get('tls', 'none')
    if tls == 'starttls':
        certs = run_case.cert_dir(opts.smtp_send, opts.certs)
    tmp = tempfile.mkdtemp(prefix='pf-smtp-')
    files = []
    for i, (name, data) in enumerate(case.messages, 1):
        path = os.path.join(tmp, 'msg%d-%s' % (i, name or 'm'))
        with open(path, 'wb') as f:
            f.write(data)
        files.append(path)
    srv = smtpserver.SmtpServer(certs)
    proto = case.get('proto', 'smtp')
    cmd = [opts.smtp_send, '--' + proto, '127.0.0.1:%d' % srv.port,
           '--timeout', case.get('timeout-ms', '2000'), '--helo',
           'client.test']
    if tls == 'starttls':
        cmd += ['--tls', 'starttls', '--ca-file',
                os.path.join(certs, 'ca.pem'), '--verify-name', 'localhost']
    for a in case.get('args', ['--to alice@test.example']):
        cmd += shlex.split(a.replace('{tmp}', tmp))
    cmd += files
    ok = True
    try:
        srv.start(case)
        t0 = time.monotonic()
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=60,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            print('%s: FAIL: smtp-send did not finish within 60 s'
                  % os.path.basename(opts.case))
            return 1
        secs = time.monotonic() - t0
        srv.finish()
        proc.stdout = proc.stdout.decode('utf-8', 'replace')
        proc.stderr = proc.stderr.decode('utf-8', 'replace')
        why = check(case, proc, secs, srv, len(files))
        ok = not why
        if not ok or opts.v:
            print('--- command: ' + ' '.join(shlex.quote(c) for c in cmd))
            print('--- transcript')
            print('\n'.join(srv.transcript))
            print('--- stdout\n' + proc.stdout + '--- stderr\n'
                  + proc.stderr + '--- exit %d, %.2f s'
                  % (proc.returncode, secs))
            for w in why:
                print('FAIL: ' + w)
    finally:
        srv.close()
        if opts.keep:
            print('kept ' + tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print('%s: %s' % (os.path.basename(opts.case), 'ok' if ok else 'FAIL'))
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
