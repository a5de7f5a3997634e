#!/usr/bin/env python3
"""fakeproxy.py: a scripted SOCKS5 or HTTP CONNECT proxy for fault tests.

Listens on 127.0.0.1 (a free port, written to --portfile) and plays one
--mode on every connection, in a thread each, until killed:

  socks-reply N        accept "no authentication", answer CONNECT with
                       reply code N (0 = success, then relay to --target)
  socks-noauth         answer the greeting with method 0xFF
  socks-authfail       choose user name/password, then reject it (status 1)
  socks-close STAGE    close without a word after the greeting (greeting),
                       after half a method reply (method), after half a
                       CONNECT reply (connect)
  socks-stall STAGE    as socks-close, but stay silent instead of closing
  socks-garbage        answer the greeting with an HTTP error
  socks-glued          a working proxy to --target that sends the CONNECT
                       reply and the server's first bytes in one write
  http-status CODE     answer CONNECT with "HTTP/1.1 CODE ..."
  http-close           send half a status line, then close
  http-stall           read the request, never answer
  http-huge            a status line and header fields without end
  http-garbage         answer with SOCKS5 bytes
  http-glued           like socks-glued, for HTTP CONNECT (200 and the
                       server's first bytes in one write)

--log FILE appends, per connection, the client's handshake bytes as hex
(so tests can check what was sent, e.g. the address type, and that a
proxy password reached the proxy and nothing else). Stdlib only.
"""

import argparse
import os
import socket
import sys
import threading
import time

BLOCK = 3600


def recv_exact(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise EOFError("client closed")
        buf += chunk
    return buf


def read_socks_greeting(conn):
    head = recv_exact(conn, 2)
    return head + recv_exact(conn, head[1])


def read_socks_auth(conn):
    ver_ulen = recv_exact(conn, 2)
    user = recv_exact(conn, ver_ulen[1])
    plen = recv_exact(conn, 1)
    return ver_ulen + user + plen + recv_exact(conn, plen[0])


def read_socks_request(conn):
    head = recv_exact(conn, 4)
    atyp = head[3]
    if atyp == 1:
        rest = recv_exact(conn, 4 + 2)
    elif atyp == 4:
        rest = recv_exact(conn, 16 + 2)
    elif atyp == 3:
        n = recv_exact(conn, 1)
        rest = n + recv_exact(conn, n[0] + 2)
    else:
        raise ValueError("bad address type %d" % atyp)
    return head + rest


def read_http_request(conn):
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = conn.recv(4096)
        if not chunk:
            raise EOFError("client closed")
        buf += chunk
        if len(buf) > 65536:
            raise ValueError("request too long")
    return buf


def relay(a, b):
    """Copy both ways until either side closes."""
    def pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
    t = threading.Thread(target=pump, args=(b, a), daemon=True)
    t.start()
    pump(a, b)
    t.join()


def glued_target(target):
    """Connect to the server and wait for its first bytes (the greeting)."""
    host, port = target.rsplit(":", 1)
    up = socket.create_connection((host, int(port)), timeout=10)
    first = up.recv(65536)
    up.settimeout(None)
    return up, first


SOCKS_OK = b"\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x00"


def play_socks(conn, mode, arg, target, log):
    greeting = read_socks_greeting(conn)
    log.append(greeting)
    if mode == "socks-close" and arg == "greeting":
        return
    if mode == "socks-stall" and arg == "greeting":
        time.sleep(BLOCK)
    if mode == "socks-garbage":
        conn.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n")
        return
    if mode == "socks-noauth":
        conn.sendall(b"\x05\xff")
        return
    if mode in ("socks-close", "socks-stall") and arg == "method":
        conn.sendall(b"\x05")
        if mode == "socks-stall":
            time.sleep(BLOCK)
        return
    if mode == "socks-authfail":
        conn.sendall(b"\x05\x02")
        log.append(read_socks_auth(conn))
        conn.sendall(b"\x01\x01")
        return
    conn.sendall(b"\x05\x00")
    log.append(read_socks_request(conn))
    if mode in ("socks-close", "socks-stall"):
        conn.sendall(b"\x05\x00\x00")
        if mode == "socks-stall":
            time.sleep(BLOCK)
        return
    if mode == "socks-reply" and int(arg) != 0:
        conn.sendall(bytes([5, int(arg), 0, 1, 0, 0, 0, 0, 0, 0]))
        return
    up, first = glued_target(target)
    if mode == "socks-glued":
        conn.sendall(SOCKS_OK + first)
    else:
        conn.sendall(SOCKS_OK)
        conn.sendall(first)
    relay(conn, up)


REASONS = {200: "Connection established", 301: "Moved Permanently",
           400: "Bad Request", 403: "Forbidden", 405: "Method Not Allowed",
           407: "Proxy Authentication Required", 500: "Internal Error",
           502: "Bad Gateway", 503: "Service Unavailable",
           504: "Gateway Timeout"}


def play_http(conn, mode, arg, target, log):
    req = read_http_request(conn)
    log.append(req)
    if mode == "http-stall":
        time.sleep(BLOCK)
    elif mode == "http-close":
        conn.sendall(b"HTTP/1.1 200 Conn")
    elif mode == "http-garbage":
        conn.sendall(b"\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x00")
    elif mode == "http-huge":
        conn.sendall(b"HTTP/1.1 200 OK\r\n")
        try:
            for i in range(100000):
                conn.sendall(b"X-Filler-%d: %s\r\n" % (i, b"a" * 100))
        except OSError:
            pass
    elif mode == "http-status":
        code = int(arg)
        reason = REASONS.get(code, "Status")
        conn.sendall(b"HTTP/1.1 %d %s\r\nContent-Length: 5\r\n"
                     b"Proxy-Authenticate: Basic realm=\"x\"\r\n\r\nhello"
                     % (code, reason.encode()))
    elif mode == "http-glued":
        up, first = glued_target(target)
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n"
                     b"Proxy-Agent: fakeproxy\r\n\r\n" + first)
        relay(conn, up)


def serve(conn, args, lock):
    log = []
    try:
        conn.settimeout(None)
        if args.mode.startswith("socks"):
            play_socks(conn, args.mode, args.arg, args.target, log)
        else:
            play_http(conn, args.mode, args.arg, args.target, log)
    except (OSError, EOFError, ValueError) as e:
        log.append(("error: %s" % e).encode())
    finally:
        if args.log:
            with lock, open(args.log, "a") as f:
                f.write("connection " + " ".join(b.hex() for b in log)
                        + "\n")
        try:
            conn.close()
        except OSError:
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--portfile", required=True)
    ap.add_argument("--mode", required=True)
    ap.add_argument("--arg", default="0")
    ap.add_argument("--target", default=None)
    ap.add_argument("--log", default=None)
    args = ap.parse_args()
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    tmp = args.portfile + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.getsockname()[1])
    os.rename(tmp, args.portfile)
    lock = threading.Lock()
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn, args, lock),
                         daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
