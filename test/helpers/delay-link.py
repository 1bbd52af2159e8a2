#!/usr/bin/env python3
"""A link with a fixed delay, for kernels without sch_netem (Firecracker's, in CI).

usage: delay-link.py TUN_A TUN_B MS_A_TO_B MS_B_TO_A

Creates two tun devices and carries every IP packet read from one into the
other after the given delay, in order: put one device in a network namespace
and the other in another, give them point-to-point addresses, and the
namespaces talk through a real kernel link whose packets each wait that long
(as `tc qdisc add ... netem delay` on the egress of either end). Prints
"ready" once both devices exist; exits when stdin closes (its parent died).
"""
import fcntl
import heapq
import os
import select
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


def open_tun(name):
    fd = os.open('/dev/net/tun', os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack('16sH', name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


a = open_tun(sys.argv[1])
b = open_tun(sys.argv[2])
delay = {a: float(sys.argv[3]) / 1000, b: float(sys.argv[4]) / 1000}
peer = {a: b, b: a}
queue = []  # (due, seq, out fd, packet): seq keeps packets of one due time in arrival order
seq = 0
print('ready', flush=True)
while True:
    timeout = max(0.0, queue[0][0] - time.monotonic()) if queue else None
    readable, _, _ = select.select([a, b, 0], [], [], timeout)
    if 0 in readable and os.read(0, 4096) == b'':
        sys.exit(0)
    for fd in readable:
        if fd == 0:
            continue
        while True:
            try:
                packet = os.read(fd, 65536)
            except BlockingIOError:
                break
            heapq.heappush(queue, (time.monotonic() + delay[fd], seq, peer[fd], packet))
            seq += 1
    now = time.monotonic()
    while queue and queue[0][0] <= now:
        _, _, out, packet = heapq.heappop(queue)
        try:
            os.write(out, packet)
        except OSError:
            pass  # the device is gone or full: a lost packet, as on a real link
