#!/usr/bin/env python3
"""Tests of lib.sh's wait_answer against real UDP sockets on loopback, with
the real dig: a server that answers, a port nobody listens on (connection
refused), a socket that never replies, a reply without records
(python3 bench/lib_test.py; run by `make test`)."""
import os
import socket
import struct
import subprocess
import threading
import unittest

LIB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib.sh")


def wait_answer(port, secs=2):
    """wait_answer's exit status."""
    return subprocess.run(["bash", "-c", 'source "$1"; wait_answer 127.0.0.1 "$2" ns1.test A "$3"',
                           "-", LIB, str(port), str(secs)], timeout=30).returncode


class Responder:
    """A UDP socket on 127.0.0.1 that replies to every query: with one A
    record (records=True), with none (NOERROR, no data), or not at all
    (reply=False)."""

    def __init__(self, reply=True, records=True):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.reply, self.records = reply, records
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.done.is_set():
            try:
                q, peer = self.sock.recvfrom(512)
            except socket.timeout:
                continue
            if not self.reply or len(q) < 12:
                continue
            # The question ends at the root label, then QTYPE and QCLASS.
            end = q.index(b"\0", 12) + 5
            ancount = 1 if self.records else 0
            hdr = q[:2] + struct.pack("!HHHHH", 0x8180 | (q[2] & 1) << 8, 1, ancount, 0, 0)
            rr = struct.pack("!HHHIH4s", 0xC00C, 1, 1, 60, 4, bytes([127, 0, 0, 1])) if self.records else b""
            self.sock.sendto(hdr + q[12:end] + rr, peer)

    def close(self):
        self.done.set()
        self.thread.join()
        self.sock.close()


class WaitAnswerTest(unittest.TestCase):
    def run_against(self, **kw):
        r = Responder(**kw)
        try:
            return wait_answer(r.port)
        finally:
            r.close()

    def test_answer(self):
        self.assertEqual(self.run_against(), 0)

    def test_refused(self):
        # A port nobody listens on: dig says "connection refused" on stdout
        # and exits 9; the old `dig +short | grep -q .` took that for an answer.
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        self.assertNotEqual(wait_answer(port), 0)

    def test_silent(self):
        self.assertNotEqual(self.run_against(reply=False), 0)

    def test_no_records(self):
        self.assertNotEqual(self.run_against(records=False), 0)


if __name__ == "__main__":
    unittest.main()
