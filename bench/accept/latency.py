"""Commit latency: time from sending the final "." of DATA to reading the 250 reply.

N sessions in parallel (asyncio, one connection each, reused for every message), EHLO once,
then MAIL/RCPT/DATA per message; the clock runs from writing "\\r\\n.\\r\\n" to the end of the
reply line. The server is untouched by this file; anything but 250 aborts the run (a latency
of refused mail would be meaningless).

Usage: latency.py PORT SESSIONS MESSAGES SIZE  -> prints JSON {p50_ms, p99_ms, n, ...}
"""
import asyncio
import json
import sys
import time

SENDER = "bench@bench.test"
RCPT = "sink@bench.test"


async def reply(reader):
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("server closed")
        if len(line) < 4 or line[3:4] != b"-":
            return line


async def session(port, count, size, samples, sid):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    assert (await reply(reader)).startswith(b"220")
    writer.write(b"EHLO latency.bench.test\r\n")
    assert (await reply(reader)).startswith(b"250")
    line = b"X" * 76 + b"\r\n"
    body = line * max(1, size // len(line))
    for i in range(count):
        head = (f"From: <{SENDER}>\r\nTo: <{RCPT}>\r\nSubject: latency {sid}-{i}\r\n"
                f"Message-ID: <lat-{sid}-{i}-{time.time_ns()}@bench.test>\r\n\r\n").encode()
        writer.write(f"MAIL FROM:<{SENDER}>\r\n".encode())
        r = await reply(reader)
        assert r.startswith(b"250"), r
        writer.write(f"RCPT TO:<{RCPT}>\r\n".encode())
        r = await reply(reader)
        assert r.startswith(b"250"), r
        writer.write(b"DATA\r\n")
        r = await reply(reader)
        assert r.startswith(b"354"), r
        writer.write(head + body)
        await writer.drain()
        t0 = time.perf_counter()
        writer.write(b".\r\n")
        r = await reply(reader)
        samples.append(time.perf_counter() - t0)
        assert r.startswith(b"250"), r
    writer.write(b"QUIT\r\n")
    await reply(reader)
    writer.close()


async def main(port, sessions, messages, size):
    samples = []
    per = messages // sessions
    t0 = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(
        *(session(port, per, size, samples, s) for s in range(sessions))), timeout=600)
    wall = time.perf_counter() - t0
    samples.sort()

    def pct(p):
        return samples[min(len(samples) - 1, int(p / 100 * len(samples)))] * 1000

    return {"n": len(samples), "p50_ms": round(pct(50), 3), "p99_ms": round(pct(99), 3),
            "max_ms": round(samples[-1] * 1000, 3), "msgs_per_s": round(len(samples) / wall, 1)}


if __name__ == "__main__":
    port, sessions, messages, size = (int(x) for x in sys.argv[1:5])
    print(json.dumps(asyncio.run(main(port, sessions, messages, size))))
