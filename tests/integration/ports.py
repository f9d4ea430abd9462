"""Free ports for test servers on 127.0.0.0/8, never the same one twice in a process.

A port the kernel hands out for bind(0) comes from the ephemeral range, which it reuses as soon
as the probe socket closes: two calls in a row can return the same port, and an outgoing
connection can take it before the server binds it (CI once saw Tern's SMTP and HTTP listeners
given one port). So ports here come from below the ephemeral range (ip_local_port_range), at
random, are probed with a bind, and are remembered so no port is handed out twice.

Invariants: every returned port was bindable on host (TCP, and UDP too when udp=True) at the
moment of the call, lies outside the kernel's ephemeral range, and is unique per process.
"""

import random
import socket
import threading

_LOW, _HIGH = 20000, 32767  # below the default ephemeral range 32768-60999
_given = set()
_lock = threading.Lock()


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
            return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


def _bindable(host, port, kind):
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False


def free_port(host="127.0.0.1", udp=False):
    """A port free right now on host for TCP (and UDP when udp=True), never returned before."""
    elo, ehi = _ephemeral_range()
    rng = random.SystemRandom()
    with _lock:
        for _ in range(2000):
            port = rng.randint(_LOW, _HIGH)
            if port in _given or elo <= port <= ehi:
                continue
            if not _bindable(host, port, socket.SOCK_STREAM):
                continue
            if udp and not _bindable(host, port, socket.SOCK_DGRAM):
                continue
            _given.add(port)
            return port
    raise RuntimeError(f"no free port found on {host} in {_LOW}-{_HIGH}")
