#!/usr/bin/env python3
"""Scripted SMTP/LMTP fault server for the smtp module's tests.

This module parses a case file (format: tests/fake/README.md, section
"SMTP and LMTP cases") and plays its script against the client: it sends
the server lines, checks every client line, reads DATA (and compares it
with the expected wire bytes), and can drop the connection in the middle
of DATA, never answer, answer with an endless multi-line reply, reset the
connection, or switch to TLS. run_smtp_case.py drives it. Python 3
standard library only.
"""

import ast
import re
import select
import socket
import ssl
import struct
import threading
import time

HEADER_KEYS = {
    'proto', 'args', 'timeout-ms', 'tls', 'exit', 'stdout', 'stderr',
    'stderr-not', 'delivered', 'max-seconds', 'min-seconds', 'trailing',
}
MULTI_KEYS = {'stdout', 'stderr', 'stderr-not', 'args'}
DIRECTIVES = {'data', 'data-cut', 'close', 'rst', 'sleep', 'endless',
              'starttls', 'expect-eof', 'reconnect'}


class CaseError(Exception):
    """A malformed case file."""


class Case:
    def __init__(self, path):
        self.path = path
        self.header = {}
        self.script = []      # (kind, arg, lineno)
        self.messages = []    # (name, bytes), in order
        self.wires = {}       # name -> bytes

    def get(self, key, default=None):
        v = self.header.get(key)
        return default if v is None else v


def _bytes_literal(text, lineno):
    """A Python bytes literal, optionally repeated: b"..." * N."""
    m = re.match(r'^(.*?)\s*\*\s*(\d+)$', text.strip())
    if m and m.group(1).endswith(('"', "'")):
        return _bytes_literal(m.group(1), lineno) * int(m.group(2))
    try:
        v = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError) as e:
        raise CaseError('line %d: bad bytes literal: %s' % (lineno, e))
    if not isinstance(v, bytes):
        raise CaseError('line %d: not a bytes literal' % lineno)
    return v


def _block_bytes(lines, eol):
    """Text lines each + eol; '+ b"..."' lines add raw bytes."""
    out = b''
    for lineno, line in lines:
        if line.startswith('+ '):
            out += _bytes_literal(line[2:], lineno)
        else:
            out += line.encode('utf-8', 'surrogateescape') + eol
    return out


def parse_case(path):
    """Read a .smtp case file into a Case."""
    case = Case(path)
    with open(path, encoding='utf-8', errors='surrogateescape') as f:
        raw = f.read().split('\n')
    if raw and raw[-1] == '':
        raw.pop()
    part, block, name = 'header', [], None

    def close_block():
        if part == 'message':
            case.messages.append((name, _block_bytes(block, b'\n')))
        elif part == 'wire':
            case.wires[name] = _block_bytes(block, b'\r\n')

    for lineno, line in enumerate(raw, 1):
        m = re.match(r'^--- ?(message|wire)? ?(\S*)$', line)
        if line.startswith('---') and m:
            close_block()
            if part == 'header' and m.group(1) is None:
                part = 'script'
            elif m.group(1) is not None:
                part, name, block = m.group(1), m.group(2), []
            else:
                raise CaseError('line %d: unexpected ---' % lineno)
            continue
        if part in ('message', 'wire'):
            block.append((lineno, line))
            continue
        if line.strip() == '' or line.startswith('#'):
            continue
        if part == 'header':
            hm = re.match(r'^([a-z][a-z0-9-]*):\s?(.*)$', line)
            if not hm or hm.group(1) not in HEADER_KEYS:
                raise CaseError('line %d: bad header line %r'
                                % (lineno, line))
            key, val = hm.group(1), hm.group(2).rstrip()
            if key in MULTI_KEYS:
                case.header.setdefault(key, []).append(val)
            else:
                case.header[key] = val
            continue
        sm = re.match(r'^(S:|S\+|C:|C~)(?: (.*))?$', line)
        if sm:
            kind, arg = sm.group(1), sm.group(2) or ''
            if kind == 'S+':
                arg = _bytes_literal(arg, lineno)
            elif kind == 'C~':
                arg = re.compile(arg)
            case.script.append((kind, arg, lineno))
            continue
        if line.startswith('!'):
            parts = line[1:].split(None, 1)
            if not parts or parts[0] not in DIRECTIVES:
                raise CaseError('line %d: unknown directive %r'
                                % (lineno, line))
            case.script.append(('!' + parts[0],
                                parts[1].strip() if len(parts) > 1 else '',
                                lineno))
            continue
        raise CaseError('line %d: cannot parse %r' % (lineno, line))
    close_block()
    if part == 'header':
        raise CaseError('no script (a line "---" must start it)')
    for kind, arg, lineno in case.script:
        if kind == '!data' and arg and arg not in case.wires:
            raise CaseError('line %d: no "--- wire %s" block'
                            % (lineno, arg))
    return case


class ClientGone(Exception):
    """The client closed the connection (or reset it)."""


class Conn:
    """A connection with a receive buffer, plain or TLS."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b''
        self.eof = False

    def fill(self, deadline):
        """Read more bytes; ClientGone on EOF, TimeoutError past deadline."""
        while True:
            if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
                break
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError()
            r, _, _ = select.select([self.sock], [], [], left)
            if r:
                break
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError, OSError):
            data = b''
        if not data:
            self.eof = True
            raise ClientGone()
        self.buf += data

    def readline(self, deadline):
        while b'\n' not in self.buf:
            if len(self.buf) > 1 << 20:
                raise ClientGone()
            self.fill(deadline)
        i = self.buf.index(b'\n') + 1
        line, self.buf = self.buf[:i], self.buf[i:]
        return line

    def read_data(self, deadline, limit=None):
        """DATA bytes up to and including the ".\\r\\n" terminator line,
        or limit bytes (then None is returned after reading them)."""
        while True:
            if limit is not None and len(self.buf) >= limit:
                self.buf = self.buf[limit:]
                return None
            if self.buf.startswith(b'.\r\n'):
                i = 3
            else:
                j = self.buf.find(b'\r\n.\r\n')
                i = j + 5 if j >= 0 else -1
            if i > 0 and limit is None:
                data, self.buf = self.buf[:i], self.buf[i:]
                return data
            self.fill(deadline)

    def send(self, data):
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError,
                OSError):
            raise ClientGone()


def _show(b):
    return repr(b)[2:-1][:300]


class SmtpServer:
    """Listen on 127.0.0.1 and play one case's script in a thread."""

    def __init__(self, certdir=None):
        self.certdir = certdir
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(('127.0.0.1', 0))
        self.lsock.listen(8)
        self.port = self.lsock.getsockname()[1]
        self.transcript = []
        self.failures = []
        self.datas = []
        self.stop = threading.Event()
        self.thread = None

    def log(self, what):
        self.transcript.append(what)

    def fail(self, msg):
        self.failures.append(msg)
        self.log('!! ' + msg)

    def start(self, case):
        self.thread = threading.Thread(target=self._serve, args=(case,),
                                       daemon=True)
        self.thread.start()

    def finish(self, grace=5.0):
        self.stop.set()
        if self.thread is not None:
            self.thread.join(grace)

    def close(self):
        self.lsock.close()

    def _accept(self, timeout=15.0):
        self.lsock.settimeout(timeout)
        try:
            s, _ = self.lsock.accept()
        except socket.timeout:
            self.fail('the client did not connect')
            return None
        s.setblocking(True)
        return Conn(s)

    def _serve(self, case):
        conn = self._accept()
        if conn is None:
            return
        try:
            rest = self._play(conn, case)
            if rest:
                self._trailing(conn, case.get('trailing') == 'ignore')
        except ClientGone:
            self.log('(client closed the connection)')
        except TimeoutError:
            self.fail('the client went silent for 30 s')
        finally:
            try:
                conn.sock.close()
            except OSError:
                pass

    def _play(self, conn, case):
        """Run the script; False when the connection was ended by it."""
        deadline = lambda: time.monotonic() + 30  # noqa: E731
        script = case.script
        for i, (kind, arg, lineno) in enumerate(script):
            reconnect_next = (i + 1 < len(script)
                              and script[i + 1][0] == '!reconnect')
            if kind == 'S:':
                self.log('S: ' + arg)
                conn.send(arg.encode('utf-8', 'surrogateescape') + b'\r\n')
            elif kind == 'S+':
                self.log('S+ ' + _show(arg))
                conn.send(arg)
            elif kind in ('C:', 'C~'):
                line = conn.readline(deadline())
                text = line.rstrip(b'\r\n').decode('utf-8',
                                                    'surrogateescape')
                self.log('C: ' + _show(line))
                ok = (text == arg if kind == 'C:'
                      else arg.fullmatch(text) is not None)
                if not line.endswith(b'\r\n'):
                    ok = False
                if not ok:
                    self.fail('line %d: expected %r, got %r'
                              % (lineno, arg if kind == 'C:'
                                 else arg.pattern, _show(line)))
                    return False
            elif kind == '!data':
                data = conn.read_data(deadline())
                self.datas.append(data)
                self.log('C: [data, %d bytes]' % len(data))
                if arg and data != case.wires[arg]:
                    self.fail('line %d: DATA differs from wire %s: got %s'
                              % (lineno, arg, _show(data)))
                    return False
            elif kind == '!data-cut':
                conn.read_data(deadline(), int(arg))
                self.log('C: [data, first %s bytes]' % arg)
            elif kind == '!close':
                self.log('!close')
                conn.sock.shutdown(socket.SHUT_RDWR)
                if not reconnect_next:
                    return False
            elif kind == '!rst':
                self.log('!rst')
                conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                     struct.pack('ii', 1, 0))
                if not reconnect_next:
                    return False
            elif kind == '!sleep':
                self.log('!sleep ' + arg)
                self.stop.wait(float(arg))
            elif kind == '!endless':
                self.log('!endless ' + arg)
                line = arg.encode() + b'\r\n'
                end = time.monotonic() + 30
                while not self.stop.is_set() and time.monotonic() < end:
                    conn.send(line * 64)
                return False
            elif kind == '!starttls':
                self._starttls(conn, arg or 'localhost')
            elif kind == '!expect-eof':
                try:
                    line = conn.readline(deadline())
                    self.fail('line %d: expected EOF, got %r'
                              % (lineno, _show(line)))
                except ClientGone:
                    self.log('(EOF as expected)')
                return False
            elif kind == '!reconnect':
                # after !close or !rst the old connection is ours to
                # drop; what the client had in flight does not matter
                if i == 0 or script[i - 1][0] not in ('!close', '!rst'):
                    self._expect_gone(conn, lineno)
                conn.sock.close()
                new = self._accept()
                if new is None:
                    return False
                conn.sock, conn.buf, conn.eof = new.sock, b'', False
                self.log('(new connection)')
        return True

    def _starttls(self, conn, name):
        if conn.buf:
            self.fail('client sent %r before the TLS handshake'
                      % _show(conn.buf))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.certdir + '/' + name + '.pem',
                            self.certdir + '/' + name + '.key')
        self.log('!starttls ' + name)
        try:
            conn.sock = ctx.wrap_socket(conn.sock, server_side=True)
        except (ssl.SSLError, OSError) as e:
            self.log('(TLS handshake failed: %s)' % e)
            raise ClientGone()

    def _expect_gone(self, conn, lineno):
        try:
            line = conn.readline(time.monotonic() + 10)
            if line.rstrip(b'\r\n') == b'QUIT':
                conn.send(b'221 bye\r\n')
                line = conn.readline(time.monotonic() + 10)
            self.fail('line %d: the client should have closed, sent %r'
                      % (lineno, _show(line)))
        except (ClientGone, TimeoutError):
            pass

    def _trailing(self, conn, ignore):
        """After the script: the client must say nothing more."""
        end = time.monotonic() + 2
        try:
            while time.monotonic() < end and not self.stop.is_set():
                try:
                    line = conn.readline(min(end, time.monotonic() + 0.2))
                except TimeoutError:
                    continue
                self.log('C: ' + _show(line))
                if not ignore:
                    self.fail('client line after the script: %r'
                              % _show(line))
                    return
        except ClientGone:
            self.log('(client closed the connection)')
