#!/usr/bin/env python3
"""A TCP proxy on loopback that adds a fixed round-trip time (tc netem is not available).

    bench/latency_proxy.py --target-port PORT --rtt-ms MS [--listen-port PORT]

Listens on 127.0.0.1 (port 0 picks a free one) and forwards every connection to
127.0.0.1:PORT. Each direction delays every chunk it reads by RTT/2 before writing it on:
a reader stamps chunks with their due time and queues them, a writer sends them in order
when due, so the delay does not cap throughput (a serial sleep per chunk would). Once
listening it prints `listening 127.0.0.1 PORT` on stdout. It runs until SIGTERM/SIGINT or
until the process that started it exits, so a crashed benchmark never leaves it behind.

When a connection ends it prints `closed ROUND_TRIPS UP_BYTES DOWN_BYTES UP_READS DOWN_READS`:
the number of times the client started sending after the server had sent (or at the
start), which is the number of round trips a request/response protocol paid for, then the
bytes and the socket reads each way.

Only loopback: the target is always 127.0.0.1.
"""

import argparse
import asyncio
import os
import selectors
import signal
import socket
import sys

CHUNK = 64 * 1024
# In-flight chunks per direction; at 64 KiB this bounds the proxy's buffers to 64 MiB
# per direction while allowing far more than any RTT here times loopback bandwidth.
QUEUE_CHUNKS = 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target-port", type=int, required=True)
    parser.add_argument("--rtt-ms", type=float, required=True)
    parser.add_argument("--listen-port", type=int, default=0)
    args = parser.parse_args()
    # epoll (asyncio's default) wakes timers with 1 ms granularity, which would add up to
    # 1 ms per direction; select() takes microsecond timeouts, and a proxy has few sockets.
    with asyncio.Runner(loop_factory=lambda: asyncio.SelectorEventLoop(selectors.SelectSelector())) as runner:
        runner.run(serve(args.listen_port, args.target_port, args.rtt_ms / 2000.0))


async def serve(listen_port, target_port, one_way_delay):
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, lambda: stop.done() or stop.set_result(None))

    async def handle(client_reader, client_writer):
        try:
            await proxy(client_reader, client_writer, target_port, one_way_delay)
        except asyncio.CancelledError:
            pass  # shutting down with connections still open

    server = await asyncio.start_server(handle, "127.0.0.1", listen_port)
    port = server.sockets[0].getsockname()[1]
    print(f"listening 127.0.0.1 {port}", flush=True)
    watchdog = asyncio.create_task(stop_when_orphaned(os.getppid(), stop))
    async with server:
        await stop
    watchdog.cancel()


async def stop_when_orphaned(parent, stop):
    while os.getppid() == parent:
        await asyncio.sleep(1)
    if not stop.done():
        stop.set_result(None)


async def proxy(client_reader, client_writer, target_port, one_way_delay):
    try:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", target_port)
    except OSError as error:
        print(f"latency_proxy: cannot reach 127.0.0.1:{target_port}: {error}", file=sys.stderr)
        client_writer.close()
        return
    for writer in (client_writer, server_writer):
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    traffic = Traffic()
    directions = [
        asyncio.create_task(forward(client_reader, server_writer, one_way_delay, traffic, "up")),
        asyncio.create_task(forward(server_reader, client_writer, one_way_delay, traffic, "down")),
    ]
    try:
        # A reset on either side ends the connection; a clean EOF is passed on and the
        # other direction may keep flowing until it ends too.
        for task in asyncio.as_completed(directions):
            try:
                await task
            except (ConnectionError, OSError):
                break
    finally:
        for task in directions:
            task.cancel()
        await asyncio.gather(*directions, return_exceptions=True)
        for writer in (client_writer, server_writer):
            writer.close()
        print(f"closed {traffic.round_trips} {traffic.bytes['up']} {traffic.bytes['down']} "
              f"{traffic.reads['up']} {traffic.reads['down']}", flush=True)


class Traffic:
    """What went through one connection, counted as chunks arrive at the proxy."""

    def __init__(self):
        self.round_trips = 0
        self.bytes = {"up": 0, "down": 0}
        self.reads = {"up": 0, "down": 0}
        self.last = None

    def arrived(self, direction, size):
        if direction == "up" and self.last != "up":
            self.round_trips += 1
        self.last = direction
        self.bytes[direction] += size
        self.reads[direction] += 1


async def forward(reader, writer, delay, traffic, direction):
    """Copies reader to writer, each chunk delivered `delay` seconds after it arrived."""
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue(QUEUE_CHUNKS)

    async def receive():
        while True:
            try:
                chunk = await reader.read(CHUNK)
            except (ConnectionError, OSError) as error:
                await queue.put((loop.time(), error))
                return
            if chunk:
                traffic.arrived(direction, len(chunk))
            await queue.put((loop.time() + delay, chunk))
            if not chunk:
                return

    receiver = asyncio.create_task(receive())
    try:
        while True:
            due, chunk = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if isinstance(chunk, Exception):
                raise chunk
            if not chunk:
                if writer.can_write_eof():
                    writer.write_eof()
                await receiver
                return
            writer.write(chunk)
            await writer.drain()
    finally:
        receiver.cancel()


if __name__ == "__main__":
    main()
