#!/usr/bin/env python3
"""ux_stlsproxy.py: a POP3 proxy that hides or refuses STLS.

    ux_stlsproxy.py --target HOST:PORT --portfile FILE
                    (--hide-stls | --refuse-stls) [--log-client FILE]

It listens on 127.0.0.1 (a free port, written to FILE atomically) and
forwards a plain POP3 session line by line:

  --hide-stls    server lines that are exactly "STLS" (the capability in
                 a CAPA answer) are dropped, so the server seems not to
                 offer STARTTLS
  --refuse-stls  the client's "STLS" command is answered "-ERR ..." by the
                 proxy itself and never reaches the server
  --log-client   append every client line to FILE (a transcript)

Once the client sends STLS and it is forwarded, everything is passed
through as opaque bytes. SIGTERM stops it.
"""

import argparse
import asyncio
import os
import re
import signal

STLS_CMD = re.compile(rb"(?i)^STLS\s*$")


async def pump_raw(reader, writer):
    """Copy bytes until EOF."""
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (OSError, RuntimeError):
        pass
    try:
        writer.close()
    except Exception:
        pass


async def server_lines(args, sreader, cwriter, state):
    """Forward server lines, dropping a bare STLS capability if asked."""
    try:
        while True:
            if state["raw"]:
                await pump_raw(sreader, cwriter)
                return
            line = await sreader.readline()
            if not line:
                break
            if args.hide_stls and line.rstrip(b"\r\n").upper() == b"STLS":
                continue
            cwriter.write(line)
            await cwriter.drain()
            if state["stls_sent"] and line.startswith(b"+OK"):
                state["raw"] = True
    except (OSError, RuntimeError):
        pass
    try:
        cwriter.close()
    except Exception:
        pass


async def client_lines(args, creader, swriter, cwriter, state):
    """Forward client lines, logging them, answering STLS if asked."""
    try:
        while True:
            if state["raw"]:
                await pump_raw(creader, swriter)
                return
            line = await creader.readline()
            if not line:
                break
            text = line.rstrip(b"\r\n")
            if args.log_client:
                with open(args.log_client, "ab") as f:
                    f.write(text + b"\n")
            if STLS_CMD.match(text):
                if args.refuse_stls:
                    cwriter.write(b"-ERR STLS refused by the test proxy\r\n")
                    await cwriter.drain()
                    continue
                state["stls_sent"] = True
                swriter.write(line)
                await swriter.drain()
                # The answer decides; then both directions go raw.
                while not state["raw"]:
                    await asyncio.sleep(0.01)
                await pump_raw(creader, swriter)
                return
            swriter.write(line)
            await swriter.drain()
    except (OSError, RuntimeError):
        pass
    try:
        swriter.close()
    except Exception:
        pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--target", required=True)
    ap.add_argument("--portfile", required=True)
    ap.add_argument("--hide-stls", action="store_true")
    ap.add_argument("--refuse-stls", action="store_true")
    ap.add_argument("--log-client")
    args = ap.parse_args()
    host, _, port = args.target.rpartition(":")

    async def handle(creader, cwriter):
        try:
            sreader, swriter = await asyncio.open_connection(host, int(port))
        except OSError:
            cwriter.close()
            return
        state = {"stls_sent": False, "raw": False}
        await asyncio.gather(
            server_lines(args, sreader, cwriter, state),
            client_lines(args, creader, swriter, cwriter, state),
            return_exceptions=True)

    async def amain():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        tmp = args.portfile + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % server.sockets[0].getsockname()[1])
        os.rename(tmp, args.portfile)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with server:
            await stop.wait()

    asyncio.run(amain())


if __name__ == "__main__":
    main()
