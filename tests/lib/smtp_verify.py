#!/usr/bin/env python3
"""smtp_verify.py: check what a mail server stored for messages that the
smtp module delivered over LMTP or SMTP.

    smtp_verify.py add-extras --maildir DIR --manifest M
    smtp_verify.py check --manifest M --sent DIR --server dovecot|postfix
                   (--doveadm FILE | --maildir DIR) [--copies N]
                   [--sender ADDR]

add-extras writes a few more hand-made messages into DIR/new/ (next to a
mailgen.py corpus) and lists them in the manifest: the byte sequences the
corpus does not have but the protocol choices are about (a dot after a
bare CR, CR CR LF, NUL and 8-bit bytes in the body, a 70,000-byte line
without a final newline).

check matches every stored message to the sent file with the same
"X-Mailgen-Id" (the empty message has none) and compares the bytes. The
fields the server puts on top are removed first: some of Return-Path,
X-Original-To and Delivered-To, then exactly one Received field of the
server's own ("with LMTP id" for Dovecot, "(Postfix) with ESMTP" for
Postfix), with its continuation lines. What must remain:

  wire(m)     = m, plus LF when m does not end with one (the end of DATA
                needs a line end), with a dot right after a bare CR doubled
                (popfetch stuffs it; servers unstuff only at line starts).
                This is what any server that stores the DATA bytes as they
                are (CRLF as LF) keeps, and Dovecot 2.3 LMTP does exactly
                that: NUL, 8-bit bytes, bare CR, CR before LF, long lines
                and "From " lines arrive unchanged.
  postfix(m)  = wire(m), then what Postfix 3.7's cleanup(8) does with its
                defaults (measured): the CRs right before a LF are dropped
                and every other CR becomes a space
                (cleanup_replace_stray_cr_lf = yes); in the header section a NUL cuts its line short, a
                first line "From ..." becomes "X-Mailbox-Line: From ...",
                and a line that is neither a header field nor empty ends the
                headers with an empty line put before it. (The fixture sets
                message_drop_headers empty; by default Postfix also drops
                Return-Path, Content-Length, Bcc and Resent-Bcc fields.)

--doveadm FILE reads "doveadm fetch 'uid size.physical guid text' all"
output (Dovecot's own view of the mailbox); --maildir reads new/ and cur/.
--copies N: each message must be stored N times (default 1). --sender:
the envelope sender the server's Return-Path must show ("" for <>).
Exit 0 when all is well; otherwise the problems are listed on stderr and
the exit status is 1.
"""

import argparse
import json
import os
import re
import sys

EXTRAS = [
    ('cr-dot', b'Subject: cr dot\nX-Mailgen-Id: 9001\n\n'
     b'a bare CR then a dot\r.here\nand two\r..there\n'
     b'cr at line end\r\nend\n'),
    ('cr-cr-lf', b'Subject: cr cr lf\nX-Mailgen-Id: 9002\n\n'
     b'two CRs\r\r\nthen text\n'),
    ('nul-8bit-body', b'Subject: body bytes\nX-Mailgen-Id: 9003\n\n'
     b'nul \x00 here\n8bit \xe9\xff\x80\n.\n..\n.x\n'),
    ('long-no-newline', b'Subject: long\nX-Mailgen-Id: 9004\n\n'
     + b'0123456789' * 7000),
]


def add_extras(args):
    with open(args.manifest) as f:
        man = json.load(f)
    for i, (kind, data) in enumerate(EXTRAS):
        name = '1999999999.X%d.extra' % i
        with open(os.path.join(args.maildir, 'new', name), 'wb') as f:
            f.write(data)
        man['messages'].append({'id': 9001 + i, 'kind': kind,
                                'file': name})
    with open(args.manifest, 'w') as f:
        json.dump(man, f)
    return 0


def wire(m):
    """What a server that stores the DATA bytes as they are keeps."""
    if m and not m.endswith(b'\n'):
        m += b'\n'
    return re.sub(rb'\r\.', b'\r..', m)


HEADER_RE = re.compile(rb'^[\x21-\x39\x3b-\x7e]+:')


def postfix(m):
    """wire(m) after Postfix 3.7's cleanup(8), as measured."""
    lines = wire(m).split(b'\n')[:-1] if m else []
    out = []
    in_headers = True
    for n, line in enumerate(lines):
        line = line.rstrip(b'\r').replace(b'\r', b' ')
        if in_headers:
            if n == 0 and line.startswith(b'From '):
                line = b'X-Mailbox-Line: ' + line
            if b'\x00' in line:
                line = line[:line.index(b'\x00')]
            if line == b'':
                in_headers = False
            elif not (HEADER_RE.match(line) or line[:1] in (b' ', b'\t')):
                in_headers = False
                out.append(b'')
        out.append(line)
    return b''.join(x + b'\n' for x in out)


TOP_FIELDS = (b'return-path:', b'x-original-to:', b'delivered-to:')


def strip_server_fields(data, server, sender, probs, where):
    """Remove the fields the server added; None when they are wrong."""
    own = (rb'\bwith LMTP\s+id ' if server == 'dovecot'
           else rb'\(Postfix\) with E?SMTPS?A? id ')
    pos = 0
    seen_rp = None
    while True:
        m = re.compile(rb'[^\n]*\n(?:[ \t][^\n]*\n)*').match(data, pos)
        if m is None:
            probs.append('%s: no %r Received field' % (where, own))
            return None
        field = data[pos:m.end()]
        low = field.lower()
        if low.startswith(b'received:') and re.search(own, field):
            if sender is not None and seen_rp != sender:
                probs.append('%s: Return-Path %r, expected <%s>'
                             % (where, seen_rp, sender))
            return data[m.end():]
        if not low.startswith(TOP_FIELDS):
            probs.append('%s: unexpected field before the server\'s '
                         'Received: %r' % (where, field[:80]))
            return None
        if low.startswith(b'return-path:') and seen_rp is None:
            rp = re.match(rb'(?i)return-path: *<([^>]*)>', field)
            seen_rp = rp.group(1).decode('utf-8', 'replace') if rp else '?'
        pos = m.end()


def read_doveadm(path):
    with open(path, 'rb') as f:
        d = f.read()
    rx = re.compile(rb'uid: (\d+)\nsize\.physical: (\d+)\nguid: (\S*)\n'
                    rb'text:\n')
    pos, out = 0, []
    while pos < len(d):
        m = rx.match(d, pos)
        if m is None:
            raise ValueError('cannot parse doveadm output at %d' % pos)
        n = int(m.group(2))
        out.append(('uid %s' % m.group(1).decode(),
                    d[m.end():m.end() + n]))
        pos = m.end() + n
        if pos < len(d):
            if d[pos:pos + 2] != b'\x0c\n':
                raise ValueError('no form feed after uid %s'
                                 % m.group(1).decode())
            pos += 2
    return out


def read_maildir(path):
    out = []
    for sub in ('new', 'cur'):
        d = os.path.join(path, sub)
        for name in sorted(os.listdir(d)):
            with open(os.path.join(d, name), 'rb') as f:
                out.append((sub + '/' + name, f.read()))
    return out


def mailgen_id(data):
    m = re.search(rb'(?mi)^X-Mailgen-Id: *(\d+)', data)
    return int(m.group(1)) if m else None


def first_diff(a, b):
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def check(args):
    with open(args.manifest) as f:
        man = json.load(f)
    probs = []
    expect = {}
    for msg in man['messages']:
        with open(os.path.join(args.sent, 'new', msg['file']), 'rb') as f:
            raw = f.read()
        key = mailgen_id(raw)
        want = wire(raw) if args.server == 'dovecot' else postfix(raw)
        expect[key] = (msg, want)
    stored = (read_doveadm(args.doveadm) if args.doveadm
              else read_maildir(args.maildir))
    count = {}
    for where, data in stored:
        body = strip_server_fields(data, args.server, args.sender, probs,
                                   where)
        if body is None:
            continue
        key = mailgen_id(body)
        if key not in expect:
            probs.append('%s: unknown message (X-Mailgen-Id %s)'
                         % (where, key))
            continue
        msg, want = expect[key]
        count[key] = count.get(key, 0) + 1
        if body != want:
            i = first_diff(body, want)
            probs.append('%s: message %s (%s) differs at offset %d: '
                         'expected %r, stored %r'
                         % (where, key, msg['kind'], i, want[i:i + 40],
                            body[i:i + 40]))
    for key, (msg, _) in expect.items():
        if count.get(key, 0) != args.copies:
            probs.append('message %s (%s) stored %d times, expected %d'
                         % (key, msg['kind'], count.get(key, 0),
                            args.copies))
    for p in probs[:30]:
        print('smtp_verify: ' + p, file=sys.stderr)
    if probs:
        print('smtp_verify: %d problems' % len(probs), file=sys.stderr)
        return 1
    if not args.quiet:
        print('smtp_verify: %d messages stored as expected (%s)'
              % (len(expect), args.server))
    return 0


def main(argv):
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest='cmd', required=True)
    a = sub.add_parser('add-extras')
    a.add_argument('--maildir', required=True)
    a.add_argument('--manifest', required=True)
    c = sub.add_parser('check')
    c.add_argument('--manifest', required=True)
    c.add_argument('--sent', required=True)
    c.add_argument('--server', choices=('dovecot', 'postfix'),
                   required=True)
    src = c.add_mutually_exclusive_group(required=True)
    src.add_argument('--doveadm')
    src.add_argument('--maildir')
    c.add_argument('--copies', type=int, default=1)
    c.add_argument('--sender')
    c.add_argument('--quiet', action='store_true')
    args = ap.parse_args(argv)
    if args.cmd == 'add-extras':
        return add_extras(args)
    return check(args)


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
