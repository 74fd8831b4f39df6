"""Starts the echo shim as a real child process on a free loopback port.

The program comes from $SHIMKIT_ECHO_SHIM (a path, or a command line, so that
a stand-in such as bench/peers/python/echo_server.py can be used while the C
shim does not build). It is started with --listen 127.0.0.1:0 plus the given
arguments; start() waits for its "listening on HOST:PORT" line on stderr.
"""
import os
import re
import shlex
import signal
import subprocess
import threading
import time
import urllib.request

LISTENING = re.compile(r"listening on (\S+?):(\d+)\b")
METRICS_AT = re.compile(r"Prometheus metrics on http://(\S+)/metrics")


def shim_command():
    cmd = os.environ.get("SHIMKIT_ECHO_SHIM")
    if not cmd:
        raise RuntimeError("SHIMKIT_ECHO_SHIM is not set: point it at build/services/echo/echo_shim")
    return shlex.split(cmd)


def router_command():
    cmd = os.environ.get("SHIMKIT_ROUTER")
    if not cmd:
        raise RuntimeError("SHIMKIT_ROUTER is not set: point it at build/runtime/router/shimkit_router")
    return shlex.split(cmd)


class Shim:
    def __init__(self, *args, start_timeout=30.0, command=None, listen="127.0.0.1:0"):
        """command: argv of another shim program (default: $SHIMKIT_ECHO_SHIM); listen: its
        --listen, a loopback port (default: any free one) or "unix:PATH"."""
        self.command = list(command) if command else None
        self.listen = listen
        self.args = list(args)
        self.start_timeout = start_timeout
        self.proc = None
        self.port = None
        self.lines = []
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._reader = None

    # -- lifecycle ---------------------------------------------------------
    def start(self):
        argv = (self.command or shim_command()) + ["--listen", self.listen] + self.args
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, errors="replace")
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + self.start_timeout
        while not self._ready.wait(0.05):
            if self.proc.poll() is not None:
                self._reader.join(2)
                raise RuntimeError(f"shim exited with {self.proc.returncode} before listening:\n{self.log()}")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"shim did not print 'listening on' within {self.start_timeout} s:\n{self.log()}")
        return self

    def _read(self):
        for line in self.proc.stderr:
            with self._lock:
                self.lines.append(line.rstrip("\n"))
            if not self._ready.is_set():
                if self.listen.startswith("unix:"):
                    if f"listening on {self.listen} " in line:
                        self._ready.set()
                    continue
                m = LISTENING.search(line)
                if m:
                    self.port = int(m.group(2))
                    self._ready.set()

    @property
    def target(self):
        return self.listen if self.listen.startswith("unix:") else f"127.0.0.1:{self.port}"

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)

    def wait(self, timeout):
        """Exit code, or raises subprocess.TimeoutExpired."""
        rc = self.proc.wait(timeout)
        if self._reader:
            self._reader.join(5)
        return rc

    def stop(self, timeout=30.0):
        """SIGTERM, then waits; returns the exit code (SIGKILL and an error if it hangs)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError(f"shim did not exit within {timeout} s of SIGTERM:\n{self.log()}")

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def log(self):
        """What the program wrote to stderr so far, as far as the reader thread got."""
        with self._lock:
            return "\n".join(self.lines)

    def wait_log(self, text, count=1, timeout=20.0):
        """The log once text is in it (count times): a line the program wrote
        before a call returned may still be on its way through the pipe and the
        reader thread. Raises AssertionError, with the log, after timeout s."""
        deadline = time.monotonic() + timeout
        while True:
            log = self.log()
            if log.count(text) >= count:
                return log
            if time.monotonic() > deadline or (self.proc.poll() is not None and not self._reader.is_alive()):
                raise AssertionError(f"{text!r} not in the log {count} time(s) within {timeout} s:\n{log}")
            time.sleep(0.02)

    def metrics_address(self):
        """HOST:PORT of --metrics-listen (the shim logs it once it serves metrics)."""
        return METRICS_AT.search(self.wait_log("Prometheus metrics on")).group(1)

    def in_flight(self, method):
        """shimkit_calls_in_flight of method (a full path) from /metrics; 0 before its first call."""
        with urllib.request.urlopen(f"http://{self.metrics_address()}/metrics", timeout=10) as r:
            text = r.read().decode()
        for line in text.splitlines():
            if line.startswith(f'shimkit_calls_in_flight{{method="{method}"}} '):
                return int(float(line.rsplit(" ", 1)[1]))
        return 0

    def wait_in_flight(self, method, n=1, timeout=20.0):
        """Until n calls of method run in the handler (needs --metrics-listen): a
        call started by the client is only then known to be on the server."""
        deadline = time.monotonic() + timeout
        while self.in_flight(method) < n:
            if time.monotonic() > deadline:
                raise AssertionError(f"{method}: fewer than {n} calls in flight after {timeout} s:\n{self.log()}")
            time.sleep(0.02)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.kill()
