#!/usr/bin/env python3
"""faultproxy.py: a TCP proxy that injects faults between popfetch and a server.

    faultproxy.py --target HOST:PORT --portfile FILE [--listen-port P]
                  [--cut-after-bytes N] [--stall-after-bytes N]
                  [--cut-after-client-line RE] [--cut-before-client-line RE]
                  [--rst] [--delay-ms D] [--once] [--log-client FILE]

It listens on 127.0.0.1 (port 0 = any free port, the default) and writes
the port it got into FILE (atomically: a temporary name, then rename). It
only forwards bytes, so TLS passes through untouched; the byte counts are
of what the server sends to the client (ciphertext under TLS).

  --cut-after-bytes N    forward exactly N server->client bytes, then close
                         both sides (the client sees EOF, or RST with --rst)
  --stall-after-bytes N  forward N server->client bytes, then forward
                         nothing more that way and keep the connection
                         open (a hung server)
  --cut-after-client-line RE   close both sides right after forwarding the
                         first client line that matches RE (e.g. '^QUIT')
  --cut-before-client-line RE  close both sides instead of forwarding it
  --rst                  close the client side with a TCP reset
  --delay-ms D           add D ms of latency in each direction (a 10 ms
                         round trip is --delay-ms 5); throughput is not
                         limited
  --once                 apply the faults to the first connection only;
                         later ones are forwarded untouched
  --log-client FILE      append every client line to FILE (a transcript)

The client-line options and --log-client read the client's bytes as lines,
so they make sense only for plain connections (--no-tls, or before STLS:
after a client line "STLS" the rest is forwarded as opaque bytes). Client
bytes are forwarded as they come, except with --cut-before-client-line,
which holds a partial line back (for at most 200 ms) until it is complete.
Events ("cut after N bytes", ...) are printed on stderr. SIGTERM stops it.
"""

import argparse
import asyncio
import os
import re
import signal
import socket
import struct
import sys
import time


class Conn:
    """One proxied connection and its fault state."""

    def __init__(self, args, n, faulty):
        self.args = args
        self.n = n
        self.faulty = faulty
        self.s2c = 0
        self.done = asyncio.Event()
        self.cwriter = None
        self.swriter = None
        self.stalled = False

    def log(self, text):
        print("faultproxy: conn %d: %s" % (self.n, text), file=sys.stderr,
              flush=True)

    def cut(self, why):
        """Close both sides now (RST towards the client with --rst)."""
        if self.done.is_set():
            return
        self.log("cut: %s (%d bytes server->client)" % (why, self.s2c))
        if self.args.rst and self.cwriter is not None:
            sock = self.cwriter.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                struct.pack("ii", 1, 0))
        for w in (self.cwriter, self.swriter):
            if w is not None:
                try:
                    w.transport.abort() if self.args.rst and \
                        w is self.cwriter else w.close()
                except Exception:
                    pass
        self.done.set()


async def delayed_writer(conn, queue, writer):
    """Write queued chunks once their delay has passed; None ends."""
    delay = conn.args.delay_ms / 1000.0
    while True:
        item = await queue.get()
        if item is None:
            try:
                if writer.can_write_eof():
                    writer.write_eof()
            except (OSError, RuntimeError):
                pass
            return
        t, data = item
        wait = t + delay - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        if conn.done.is_set():
            return
        try:
            writer.write(data)
            await writer.drain()
        except (OSError, RuntimeError):
            conn.done.set()
            return


async def server_to_client(conn, sreader, queue):
    """Pump server bytes to the client, applying the byte faults."""
    a = conn.args
    cut_at = a.cut_after_bytes if conn.faulty else None
    stall_at = a.stall_after_bytes if conn.faulty else None
    while not conn.done.is_set():
        try:
            data = await sreader.read(65536)
        except (OSError, RuntimeError):
            data = b""
        if not data:
            await queue.put(None)
            return
        limit = None
        for lim in (cut_at, stall_at):
            if lim is not None and conn.s2c + len(data) >= lim:
                limit = lim if limit is None else min(limit, lim)
        if limit is not None:
            data = data[:limit - conn.s2c]
        conn.s2c += len(data)
        if data:
            await queue.put((time.monotonic(), data))
        if limit is not None:
            # Let the delayed writer flush what is queued first.
            while not queue.empty() and not conn.done.is_set():
                await asyncio.sleep(0.01)
            await asyncio.sleep(a.delay_ms / 1000.0 + 0.05)
            if cut_at is not None and limit == cut_at:
                conn.cut("after %d bytes" % cut_at)
            else:
                conn.log("stalled after %d bytes" % limit)
                conn.stalled = True
                await conn.done.wait()
            return


async def client_to_server(conn, creader, queue):
    """Pump client bytes to the server; match lines when asked to."""
    a = conn.args
    by_line = bool(a.log_client or a.cut_after_client_line or
                   a.cut_before_client_line)
    after = re.compile(a.cut_after_client_line.encode()) \
        if a.cut_after_client_line and conn.faulty else None
    before = re.compile(a.cut_before_client_line.encode()) \
        if a.cut_before_client_line and conn.faulty else None
    pending = b""
    while not conn.done.is_set():
        try:
            if before is not None and pending:
                # A held partial line is let go after 200 ms, so binary
                # data (a TLS handshake) cannot hang here.
                data = await asyncio.wait_for(creader.read(65536), 0.2)
            else:
                data = await creader.read(65536)
        except asyncio.TimeoutError:
            await queue.put((time.monotonic(), pending))
            pending = b""
            continue
        except (OSError, RuntimeError):
            data = b""
        if not data:
            if conn.stalled:
                conn.cut("client closed while stalled")
                return
            if pending:
                await queue.put((time.monotonic(), pending))
            await queue.put(None)
            return
        if not by_line:
            await queue.put((time.monotonic(), data))
            continue
        if before is None:
            # Nothing to hold back: forward at once, look at lines after.
            await queue.put((time.monotonic(), data))
        pending += data
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            line += b"\n"
            text = line.rstrip(b"\r\n")
            if a.log_client:
                with open(a.log_client, "ab") as f:
                    f.write(text + b"\n")
            if before is not None and before.search(text):
                conn.cut("before client line %r" % text[:40])
                return
            if before is not None:
                await queue.put((time.monotonic(), line))
            if after is not None and after.search(text):
                await asyncio.sleep(a.delay_ms / 1000.0 + 0.1)
                conn.cut("after client line %r" % text[:40])
                return
            if re.match(rb"(?i)^STLS\s*$", text):
                # What follows is TLS: stop reading it as lines.
                if before is not None and pending:
                    await queue.put((time.monotonic(), pending))
                pending = b""
                by_line = False
                before = after = None
                break


class Proxy:
    """Accept connections and proxy each to the target."""

    def __init__(self, args):
        self.args = args
        self.count = 0
        host, _, port = args.target.rpartition(":")
        self.thost = host.strip("[]")
        self.tport = int(port)

    async def handle(self, creader, cwriter):
        try:
            await self.proxy(creader, cwriter)
        except asyncio.CancelledError:
            pass

    async def proxy(self, creader, cwriter):
        """Connect to the target and pump both ways until done."""
        self.count += 1
        faulty = not self.args.once or self.count == 1
        conn = Conn(self.args, self.count, faulty)
        conn.cwriter = cwriter
        try:
            sreader, swriter = await asyncio.open_connection(self.thost,
                                                             self.tport)
        except OSError as e:
            conn.log("cannot connect to the target: %s" % e)
            cwriter.close()
            return
        conn.swriter = swriter
        q_s2c = asyncio.Queue()
        q_c2s = asyncio.Queue()
        tasks = [
            asyncio.ensure_future(server_to_client(conn, sreader, q_s2c)),
            asyncio.ensure_future(delayed_writer(conn, q_s2c, cwriter)),
            asyncio.ensure_future(client_to_server(conn, creader, q_c2s)),
            asyncio.ensure_future(delayed_writer(conn, q_c2s, swriter)),
        ]
        waiter = asyncio.ensure_future(conn.done.wait())
        # The connection ends when both writers have finished, or on a cut.
        writers = asyncio.gather(tasks[1], tasks[3],
                                 return_exceptions=True)
        await asyncio.wait([writers, waiter],
                           return_when=asyncio.FIRST_COMPLETED)
        for t in tasks + [waiter]:
            t.cancel()
        for w in (cwriter, swriter):
            try:
                w.close()
            except Exception:
                pass
        conn.log("closed (%d bytes server->client)" % conn.s2c)


async def amain(args):
    proxy = Proxy(args)
    server = await asyncio.start_server(proxy.handle, "127.0.0.1",
                                        args.listen_port)
    port = server.sockets[0].getsockname()[1]
    tmp = args.portfile + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.rename(tmp, args.portfile)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--listen-port", type=int, default=0)
    ap.add_argument("--target", required=True)
    ap.add_argument("--portfile", required=True)
    ap.add_argument("--cut-after-bytes", type=int)
    ap.add_argument("--stall-after-bytes", type=int)
    ap.add_argument("--cut-after-client-line")
    ap.add_argument("--cut-before-client-line")
    ap.add_argument("--rst", action="store_true")
    ap.add_argument("--delay-ms", type=float, default=0.0)
    ap.add_argument("--once", action="store_true")
    ap.add_argument("--log-client")
    args = ap.parse_args()
    try:
        asyncio.run(amain(args))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
