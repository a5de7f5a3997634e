#!/usr/bin/env python3
"""Scripted POP3 fault server for the popfetch tests (docs/style.md §9).

This module parses a case file (format: tests/fake/README.md) and plays
its script against one client connection per run: it sends the server
lines, checks every client line against the script, and can close, reset,
stall, drip one byte per write, switch to TLS or stream huge lines.
run_case.py drives it; it is also usable by hand:

    python3 popserver.py [--certs DIR] CASEFILE

listens on 127.0.0.1, prints the port and plays the first run once.
Python 3 standard library only.
"""

import ast
import re
import select
import socket
import ssl
import struct
import sys
import threading
import time

# Header keys that later runs inherit from earlier ones; all other keys
# (the expectations) belong to one run only.
CONFIG_KEYS = {
    'description', 'tls', 'cert', 'auth', 'host', 'args', 'standard-args',
    'password', 'quiet', 'timeout', 'rss-max-kb', 'no-secret', 'trailing',
    'delivery',
}
EXPECT_KEYS = {
    'exit', 'stderr', 'stderr-not', 'stderr-lines', 'maildir-count',
    'stdout', 'max-seconds', 'min-seconds', 'connect', 'sigterm-after',
    'sigterm-stop-seconds', 'smtp',
}
MULTI_KEYS = {'stderr', 'stderr-not', 'args', 'description'}

# The byte pattern of !big: position dependent, no CR, LF or dot.
BIG_PATTERN = b'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVW'


def big_bytes(offset, size):
    """Return size bytes of the !big pattern starting at offset."""
    plen = len(BIG_PATTERN)
    start = offset % plen
    reps = (start + size) // plen + 1
    return (BIG_PATTERN * reps)[start:start + size]


class CaseError(Exception):
    """A malformed case file."""


class Step:
    """One script line: kind is S, S+, B, C, C~, C?, or a !directive."""

    def __init__(self, kind, arg, lineno):
        self.kind = kind
        self.arg = arg
        self.lineno = lineno
        self.replies = []   # for C? and the blocks of !any-order
        self.blocks = []    # for !any-order: list of C steps

    def __repr__(self):
        return 'line %d: %s %r' % (self.lineno, self.kind, self.arg)


class Run:
    """One popfetch invocation: header values, script, expected messages."""

    def __init__(self):
        self.header = {}
        self.script = []
        self.delivers = []  # each a list of segments: bytes or ('big', n)

    def get(self, key, default=None):
        """A header value (a list for repeatable keys), or default."""
        v = self.header.get(key)
        return default if v is None else v


class Case:
    def __init__(self, path):
        self.path = path
        self.runs = []


def _parse_bytes_literal(text, lineno):
    try:
        v = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError) as e:
        raise CaseError('line %d: bad bytes literal: %s' % (lineno, e))
    if not isinstance(v, bytes):
        raise CaseError('line %d: not a bytes literal' % lineno)
    return v


def _parse_header_line(run, line, lineno):
    m = re.match(r'^([a-z][a-z0-9-]*):\s?(.*)$', line)
    if not m:
        raise CaseError('line %d: expected "key: value": %r' % (lineno, line))
    key, val = m.group(1), m.group(2).rstrip()
    if key not in CONFIG_KEYS and key not in EXPECT_KEYS:
        raise CaseError('line %d: unknown header key %r' % (lineno, key))
    if key in MULTI_KEYS:
        run.header.setdefault(key, []).append(val)
    else:
        run.header[key] = val


_SCRIPT_RE = re.compile(r'^(S:|S\+|B:|B\+|C:|C~|C\?)(?: (.*))?$')


def _parse_script_line(line, lineno):
    if line.startswith('!'):
        parts = line[1:].split(None, 1)
        name = parts[0] if parts else ''
        arg = parts[1].strip() if len(parts) > 1 else ''
        known = {'close', 'rst', 'sleep', 'slowdown', 'fast', 'tls',
                 'starttls', 'expect-eof', 'big', 'any-order', 'end',
                 'shutdown-write', 'expect-clienthello', 'reconnect',
                 'lines'}
        if name not in known:
            raise CaseError('line %d: unknown directive !%s' % (lineno, name))
        if name == 'starttls':
            name = 'tls'
        if name in ('sleep',):
            try:
                float(arg)
            except ValueError:
                raise CaseError('line %d: !sleep needs seconds' % lineno)
        if name == 'big':
            try:
                int(arg)
            except ValueError:
                raise CaseError('line %d: !big needs a size' % lineno)
        if name == 'lines':
            w = arg.split(None, 2)
            try:
                if len(w) != 3 or int(w[0]) < 0 or int(w[1]) < 0:
                    raise ValueError
                w[2].format(n=1)
            except (ValueError, KeyError, IndexError):
                raise CaseError('line %d: !lines needs FIRST COUNT '
                                'TEMPLATE' % lineno)
        if name == 'tls' and not arg:
            raise CaseError('line %d: !tls needs a certificate name' % lineno)
        return Step('!' + name, arg, lineno)
    m = _SCRIPT_RE.match(line)
    if not m:
        raise CaseError('line %d: bad script line %r' % (lineno, line))
    kind, arg = m.group(1), m.group(2) if m.group(2) is not None else ''
    kind = kind.rstrip(':')
    if kind in ('S+', 'B+'):
        arg = _parse_bytes_literal(arg, lineno)
    elif kind == 'C~':
        try:
            re.compile(arg)
        except re.error as e:
            raise CaseError('line %d: bad regex: %s' % (lineno, e))
    return Step(kind, arg, lineno)


def _group_script(steps):
    """Attach replies to C? steps and build !any-order blocks."""
    out = []
    i = 0
    while i < len(steps):
        st = steps[i]
        if st.kind == '!end':
            raise CaseError('line %d: !end without !any-order' % st.lineno)
        if st.kind == '!any-order':
            i += 1
            cur = None
            while i < len(steps) and steps[i].kind != '!end':
                s = steps[i]
                if s.kind in ('C', 'C~'):
                    cur = s
                    st.blocks.append(s)
                elif s.kind in ('S', 'S+', 'B', 'B+'):
                    if cur is None:
                        raise CaseError('line %d: server line before any '
                                        'client line in !any-order'
                                        % s.lineno)
                    cur.replies.append(s)
                else:
                    raise CaseError('line %d: only C:, C~ and server lines '
                                    'in !any-order' % s.lineno)
                i += 1
            if i >= len(steps):
                raise CaseError('line %d: !any-order without !end'
                                % st.lineno)
            out.append(st)
            i += 1
            continue
        if st.kind == 'C?':
            i += 1
            while i < len(steps) and steps[i].kind in ('S', 'S+', 'B', 'B+'):
                st.replies.append(steps[i])
                i += 1
            out.append(st)
            continue
        out.append(st)
        i += 1
    return out


def parse_case(path):
    """Parse a case file into a Case (raises CaseError)."""
    with open(path, 'r', encoding='utf-8', newline='') as f:
        text = f.read()
    lines = text.split('\n')
    if lines and lines[-1] == '':
        lines.pop()
    case = Case(path)
    run = Run()
    case.runs.append(run)
    section = 'header'
    steps = []
    deliver = None
    for idx, raw in enumerate(lines):
        lineno = idx + 1
        line = raw[:-1] if raw.endswith('\r') else raw
        if line.startswith('---'):
            name = line[3:].strip() or 'script'
            if section == 'script':
                run.script = _group_script(steps)
                steps = []
            if name == 'script':
                section = 'script'
            elif name == 'deliver':
                section = 'deliver'
                deliver = []
                run.delivers.append(deliver)
            elif name == 'run':
                prev = run
                run = Run()
                for k, v in prev.header.items():
                    if k in CONFIG_KEYS:
                        run.header[k] = list(v) if isinstance(v, list) else v
                run.inherited = set(run.header)
                case.runs.append(run)
                section = 'header'
            else:
                raise CaseError('line %d: unknown section %r' % (lineno, name))
            continue
        if section == 'header':
            if line.strip() == '' or line.startswith('#'):
                continue
            key = line.split(':', 1)[0]
            inh = getattr(run, 'inherited', set())
            if key in inh and key in MULTI_KEYS:
                # a later run's own value replaces the inherited one
                del run.header[key]
                inh.discard(key)
            _parse_header_line(run, line, lineno)
        elif section == 'script':
            if line.strip() == '' or line.startswith('#'):
                continue
            steps.append(_parse_script_line(line, lineno))
        else:
            if line.startswith('+ b') or line.startswith("+ b'") \
                    or line.startswith('+ b"'):
                deliver.append(_parse_bytes_literal(line[2:], lineno))
            elif line.startswith('!big '):
                try:
                    deliver.append(('big', int(line[5:])))
                except ValueError:
                    raise CaseError('line %d: bad !big' % lineno)
            else:
                deliver.append(line.encode('utf-8') + b'\n')
    if section == 'script':
        run.script = _group_script(steps)
    for r in case.runs:
        for k in ('exit', 'maildir-count', 'timeout', 'rss-max-kb'):
            if k in r.header:
                try:
                    float(r.header[k])
                except ValueError:
                    raise CaseError('%s: %s must be a number' % (path, k))
    return case


class ClientGone(Exception):
    """The connection ended (EOF, reset, or a failed TLS handshake)."""


class Mismatch(ClientGone):
    """The script stopped at a client line it did not expect."""


class Conn:
    """A client connection with a line buffer, plain or TLS."""

    def __init__(self, sock, server):
        self.sock = sock
        self.server = server
        self.buf = b''
        self.eof = False
        self.eof_why = 'connection closed by the client'
        self.slow = False
        self.slow_delay = None
        self.tls = False

    def _wait_readable(self, deadline):
        while True:
            if self.server.hard_stop.is_set():
                raise ClientGone('server stopped')
            if self.tls and self.sock.pending():
                return True
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return False
            t = 0.05 if deadline is None else min(0.05, deadline - now)
            try:
                r, _, _ = select.select([self.sock], [], [], t)
            except (OSError, ValueError):
                return True
            if r:
                return True

    def fill(self, deadline=None):
        """Read more bytes; return False on deadline, sets eof at EOF."""
        if self.eof:
            return True
        if not self._wait_readable(deadline):
            return False
        try:
            data = self.sock.recv(65536)
        except ssl.SSLWantReadError:
            return True
        except (ssl.SSLError, OSError) as e:
            self.eof = True
            self.eof_why = 'connection error: %s' % e
            return True
        if not data:
            self.eof = True
        else:
            self.buf += data
            if len(self.buf) > (1 << 20):
                self.eof = True
                self.eof_why = 'client sent over 1 MiB without a line end'
        return True

    def readline(self, deadline=None):
        """Return one client line with its line end, or raise ClientGone."""
        while True:
            i = self.buf.find(b'\n')
            if i >= 0:
                line, self.buf = self.buf[:i + 1], self.buf[i + 1:]
                return line
            if self.eof:
                if self.buf:
                    line, self.buf = self.buf, b''
                    return line
                raise ClientGone(self.eof_why)
            if not self.fill(deadline):
                return None

    def peekline(self, deadline=None):
        line = self.readline(deadline)
        if line is not None:
            self.buf = line + self.buf
        return line

    def send(self, data):
        """Send data (one byte per write when slow); False if it failed."""
        try:
            if self.slow and len(data) < 65536:
                for i in range(len(data)):
                    self.sock.sendall(data[i:i + 1])
                    time.sleep(self.slow_delay
                               if self.slow_delay is not None
                               else self.server.slow_delay)
            else:
                self.sock.sendall(data)
            return True
        except (OSError, ssl.SSLError):
            return False

    def start_tls(self, ctx, deadline):
        if self.buf:
            raise ClientGone('client sent %r before the TLS handshake'
                             % self.buf[:60])
        raw = self.sock
        tsock = ctx.wrap_socket(raw, server_side=True,
                                do_handshake_on_connect=False)
        tsock.setblocking(False)
        while True:
            try:
                tsock.do_handshake()
                break
            except ssl.SSLWantReadError:
                select.select([tsock], [], [], 0.05)
            except ssl.SSLWantWriteError:
                select.select([], [tsock], [], 0.05)
            except (ssl.SSLError, OSError) as e:
                self.eof = True
                self.eof_why = 'TLS handshake failed: %s' % e
                self.sock = tsock
                raise ClientGone(self.eof_why)
            if time.monotonic() > deadline or self.server.hard_stop.is_set():
                self.eof = True
                self.eof_why = 'TLS handshake timed out'
                self.sock = tsock
                raise ClientGone(self.eof_why)
        tsock.setblocking(True)
        tsock.settimeout(30)
        self.sock = tsock
        self.tls = True
        return tsock.version()


def _show(b):
    """Printable form of a line for the transcript."""
    s = repr(bytes(b))[2:-1]
    if len(s) > 300:
        s = s[:300] + '...(%d bytes)' % len(b)
    return s


class PopServer:
    """Listens on 127.0.0.1; plays one script per accepted connection."""

    def __init__(self, certdir=None, slow_delay=0.002):
        self.certdir = certdir
        self.slow_delay = slow_delay
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(('127.0.0.1', 0))
        self.lsock.listen(8)
        self.port = self.lsock.getsockname()[1]
        self.thread = None
        self.client_gone = threading.Event()
        self.hard_stop = threading.Event()

    # -- bookkeeping -------------------------------------------------------

    def _log(self, what):
        self.transcript.append(what)

    def _fail(self, msg):
        self.failures.append(msg)
        self._log('!! ' + msg)

    def _ctx(self, name):
        if not self.certdir:
            raise ClientGone('no certificate directory for !tls %s' % name)
        base = name[:-6] if name.endswith('-chain') else name
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        # accept weak test certificates on our side: the client must refuse
        ctx.set_ciphers('DEFAULT:@SECLEVEL=0')
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain('%s/%s.pem' % (self.certdir, name),
                            '%s/%s.key' % (self.certdir, base))
        return ctx

    # -- running -----------------------------------------------------------

    def start(self, script, trailing_ignore=False, implicit_cert=None,
              connect='yes'):
        """Play script on the next connection, in a thread."""
        self.transcript = []
        self.failures = []
        self.connected = False
        self.client_gone.clear()
        self.hard_stop.clear()
        self.thread = threading.Thread(
            target=self._serve,
            args=(script, trailing_ignore, implicit_cert, connect),
            daemon=True)
        self.thread.start()

    def finish(self, grace=3.0):
        """Called once the client exited: wait for the script to end."""
        self.client_gone.set()
        self.thread.join(grace)
        if self.thread.is_alive():
            self.hard_stop.set()
            self.thread.join(5)
            if not any('server stopped' in f for f in self.failures):
                self._fail('script still running %.0f s after the client '
                           'exited' % grace)
        return self.failures, self.transcript

    def close(self):
        self.lsock.close()

    def _accept(self):
        while True:
            if self.client_gone.is_set() or self.hard_stop.is_set():
                return None
            r, _, _ = select.select([self.lsock], [], [], 0.05)
            if r:
                s, _ = self.lsock.accept()
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return s

    def _serve(self, script, trailing_ignore, implicit_cert, connect):
        sock = self._accept()
        if sock is None:
            if connect == 'yes':
                self._fail('the client never connected')
            return
        self.connected = True
        self._log('** connected')
        if connect == 'no':
            self._fail('the client connected, but should not have')
            sock.close()
            return
        conn = Conn(sock, self)
        try:
            try:
                if implicit_cert:
                    if self._tls_step(conn, implicit_cert, script) is None:
                        return
                if self._play(conn, script) is None:
                    return
            except Mismatch:
                return
            except ClientGone as e:
                self._fail('%s (script not finished)' % e)
                return
            self._trailing(conn, trailing_ignore)
        finally:
            try:
                conn.sock.close()
            except OSError:
                pass

    def _do_tls(self, conn, name):
        ctx = self._ctx(name)
        v = conn.start_tls(ctx, time.monotonic() + 10)
        self._log('** TLS up (%s, %s)' % (v, name))

    def _send_step(self, conn, st):
        if st.kind == 'S':
            data = st.arg.encode('utf-8') + b'\r\n'
        elif st.kind in ('S+', 'B+'):
            data = st.arg
        elif st.kind == 'B':
            t = st.arg.encode('utf-8')
            if t.startswith(b'.'):
                t = b'.' + t
            data = t + b'\r\n'
        else:
            raise AssertionError(st.kind)
        self._log('S: ' + _show(data))
        if not conn.send(data):
            self._log('** send failed (client gone)')

    def _match(self, st, line):
        """Whether client line (with its line end) matches step st."""
        if not line.endswith(b'\r\n'):
            return False
        text = line[:-2].decode('utf-8', 'surrogateescape')
        if st.kind == 'C~':
            return re.fullmatch(st.arg, text) is not None
        return text == st.arg

    def _expect(self, conn, st):
        line = conn.readline()
        self._log('C: ' + _show(line))
        if not self._match(st, line):
            self._fail('line %d: expected client line %s%r, got %s'
                       % (st.lineno, 'matching ' if st.kind == 'C~'
                          else '', st.arg, _show(line)))
            raise Mismatch()

    def _tls_step(self, conn, name, rest):
        """TLS handshake; a failure is expected when nothing but
        !expect-eof follows. Returns True to go on, None when done."""
        try:
            self._do_tls(conn, name)
            return True
        except ClientGone as e:
            if rest and rest[0].kind != '!expect-eof':
                raise
            self._log('** %s (the client refused: expected)' % e)
            return None

    def _play(self, conn, script):
        """Play the script; returns None when the connection is done."""
        for i, st in enumerate(script):
            k = st.kind
            if k in ('S', 'S+', 'B', 'B+'):
                self._send_step(conn, st)
            elif k in ('C', 'C~'):
                self._expect(conn, st)
            elif k == 'C?':
                try:
                    line = conn.peekline()
                except ClientGone:
                    line = None
                if line is not None and self._match(st, line):
                    conn.readline()
                    self._log('C: ' + _show(line) + '   (optional)')
                    for r in st.replies:
                        self._send_step(conn, r)
            elif k == '!any-order':
                left = list(st.blocks)
                while left:
                    line = conn.readline()
                    self._log('C: ' + _show(line))
                    hit = None
                    for b in left:
                        if self._match(b, line):
                            hit = b
                            break
                    if hit is None:
                        self._fail('line %d: client line %s matches none of '
                                   '%r' % (st.lineno, _show(line),
                                           [b.arg for b in left]))
                        raise Mismatch()
                    left.remove(hit)
                    for r in hit.replies:
                        self._send_step(conn, r)
            elif k == '!close':
                self._log('** close')
                try:
                    conn.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                conn.sock.close()
                return None
            elif k == '!shutdown-write':
                self._log('** shutdown(SHUT_WR)')
                try:
                    if conn.tls:
                        conn.sock = conn.sock.unwrap()
                        conn.tls = False
                    conn.sock.shutdown(socket.SHUT_WR)
                except (OSError, ssl.SSLError):
                    pass
            elif k == '!rst':
                self._log('** reset (SO_LINGER 0)')
                try:
                    conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                         struct.pack('ii', 1, 0))
                except OSError:
                    pass
                conn.sock.close()
                return None
            elif k == '!sleep':
                self._log('** sleep %s' % st.arg)
                self.client_gone.wait(float(st.arg))
            elif k == '!slowdown':
                self._log('** slowdown %s' % (st.arg or ''))
                conn.slow = True
                conn.slow_delay = float(st.arg) if st.arg else None
            elif k == '!fast':
                conn.slow = False
            elif k == '!tls':
                if self._tls_step(conn, st.arg, script[i + 1:]) is None:
                    return None
            elif k == '!big':
                n = int(st.arg)
                self._log('S: <%d pattern bytes>' % n)
                off = 0
                while off < n:
                    chunk = big_bytes(off, min(1 << 20, n - off))
                    try:
                        conn.sock.sendall(chunk)
                    except (OSError, ssl.SSLError):
                        self._log('** send failed after %d bytes '
                                  '(client gone)' % off)
                        break
                    off += len(chunk)
            elif k == '!lines':
                self._send_lines(conn, st.arg)
            elif k == '!expect-eof':
                self._expect_eof(conn, st)
            elif k == '!reconnect':
                # the client must close this connection, then open the
                # next one; the rest of the script plays on that one
                self._expect_eof(conn, st)
                try:
                    conn.sock.close()
                except OSError:
                    pass
                sock = self._accept()
                if sock is None:
                    self._fail('the client did not connect again')
                    return None
                self._log('** connected again')
                conn.sock = sock
                conn.buf = b''
                conn.eof = False
            elif k == '!expect-clienthello':
                self._expect_hello(conn, st)
            else:
                raise AssertionError(k)
        return True

    def _send_lines(self, conn, arg):
        """!lines FIRST COUNT TEMPLATE: COUNT lines TEMPLATE.format(n=i)
        + CRLF for i from FIRST, batched (one by one when slow); stops
        early once the client has gone."""
        first, count, tmpl = arg.split(None, 2)
        first, count = int(first), int(count)
        self._log('S: <%d lines %r from %d>' % (count, tmpl, first))
        i, end = first, first + count
        while i < end:
            if self.client_gone.is_set() or self.hard_stop.is_set():
                break
            k = 1 if conn.slow else min(end - i, 2000)
            data = ''.join(tmpl.format(n=j) + '\r\n'
                           for j in range(i, i + k)).encode('utf-8')
            if not conn.send(data):
                self._log('** send failed after %d lines (client gone)'
                          % (i - first))
                return
            i += k

    def _expect_eof(self, conn, st):
        if conn.eof and not conn.buf:
            self._log('** EOF (%s)' % conn.eof_why)
            return
        while True:
            try:
                line = conn.readline()
            except ClientGone as e:
                self._log('** EOF (%s)' % e)
                return
            if line is None:
                continue
            self._log('C: ' + _show(line))
            self._fail('line %d: expected the client to close, got %s'
                       % (st.lineno, _show(line)))

    def _expect_hello(self, conn, st):
        """The client starts TLS (its bytes begin with a handshake record)
        and then closes; what it sends is read and dropped."""
        got = b''
        while True:
            if conn.buf:
                if len(got) < 16:
                    got += conn.buf[:16]
                conn.buf = b''
            if conn.eof:
                break
            conn.fill()
        self._log('C: <%d bytes starting %s> then EOF'
                  % (len(got), _show(got[:6])))
        if not got.startswith(b'\x16\x03'):
            self._fail('line %d: expected a TLS ClientHello, got %s'
                       % (st.lineno, _show(got) if got else 'nothing'))

    def _trailing(self, conn, ignore):
        """After the script: read until EOF or 2 s; extra lines fail."""
        if conn.sock.fileno() < 0:
            return
        deadline = time.monotonic() + 2.0
        while True:
            try:
                line = conn.readline(deadline)
            except ClientGone:
                return
            if line is None:
                self._log('** client still connected 2 s after the '
                          'script; closing')
                return
            self._log('C: ' + _show(line) + '   (after the script)')
            if not ignore:
                self._fail('unexpected client line after the script: %s'
                           % _show(line))


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--certs', help='mkcerts.sh output directory')
    ap.add_argument('case')
    a = ap.parse_args(argv)
    case = parse_case(a.case)
    run = case.runs[0]
    srv = PopServer(a.certs)
    print(srv.port, flush=True)
    implicit = None
    if run.get('tls', 'none') == 'implicit':
        implicit = run.get('cert', 'localhost')
    srv.start(run.script, run.get('trailing') == 'ignore', implicit)
    while srv.thread.is_alive() and not srv.connected:
        time.sleep(0.1)
    srv.thread.join()
    for t in srv.transcript:
        print(t)
    for f in srv.failures:
        print('FAIL:', f)
    return 1 if srv.failures else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
