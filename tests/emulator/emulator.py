"""emulator.py -- start and drive pave_emulator.py from Python tests.

Standard library only (urllib for the admin API).

    from emulator import Emulator

    with Emulator(accounts=[("k1", "s1", "u1")]) as emu:
        emu.url                 # "http://127.0.0.1:PORT"
        emu.add_fault(method="PUT", event="SESSION:COMPLETE", status=503,
                      times=1)
        ... run pavesync against emu.url ...
        emu.requests()          # the request log (list of dicts)
        emu.stats()             # {"requests": N, "connections": M, ...}

Emulator(accounts, extra_args) only records its arguments; start() (called
by __enter__) spawns the server with --port-file in a fresh temporary
directory and waits (10 s at most) for the port file. stop() sends SIGTERM
and waits for the process.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.environ.get("PAVESYNC_EMULATOR") or os.path.join(
    HERE, "pave_emulator.py")


class EmulatorError(Exception):
    pass


class Emulator:
    def __init__(self, accounts=(), extra_args=(), python=None):
        self.accounts = list(accounts)
        self.extra_args = list(extra_args)
        self.python = python or os.environ.get("PYTHON") or sys.executable
        self.proc = None
        self.tmpdir = None
        self.port = None
        self.url = None

    # -- lifecycle ----------------------------------------------------------

    def start(self, accounts=None, extra_args=None):
        if accounts is not None:
            self.accounts = list(accounts)
        if extra_args is not None:
            self.extra_args = list(extra_args)
        self.tmpdir = tempfile.mkdtemp(prefix="pave-emulator-")
        port_file = os.path.join(self.tmpdir, "port")
        cmd = [self.python, SCRIPT, "--port", "0", "--port-file", port_file]
        for key, secret, user in self.accounts:
            cmd += ["--account", "%s:%s:%s" % (key, secret, user)]
        cmd += self.extra_args
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not os.path.exists(port_file):
            if self.proc.poll() is not None:
                self._cleanup()
                raise EmulatorError("emulator exited with status %d" %
                                    self.proc.returncode)
            if time.monotonic() > deadline:
                self.stop()
                raise EmulatorError("emulator did not start within 10 s")
            time.sleep(0.02)
        with open(port_file) as f:
            self.port = int(f.read().strip())
        self.url = "http://127.0.0.1:%d" % self.port
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._cleanup()
        return self.proc.returncode if self.proc is not None else None

    def _cleanup(self):
        if self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None

    def __enter__(self):
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    # -- admin API ----------------------------------------------------------

    def admin(self, method, path, body=None):
        """Call /_emulator/PATH; returns the decoded JSON reply."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + "/_emulator/" + path,
                                     data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            raise EmulatorError("%s /_emulator/%s -> %d: %s" % (
                method, path, e.code, e.read().decode(errors="replace")))

    def requests(self):
        return self.admin("GET", "requests")

    def clear_requests(self):
        self.admin("DELETE", "requests")

    def stats(self):
        return self.admin("GET", "stats")

    def callbacks(self, api_key):
        return self.admin("GET", "callbacks/" + urllib.parse.quote(api_key,
                                                                   safe=""))

    def set_callbacks(self, api_key, callbacks):
        return self.admin("PUT", "callbacks/" + urllib.parse.quote(
            api_key, safe=""), callbacks)

    def add_fault(self, **rule):
        return self.admin("POST", "faults", rule)

    def clear_faults(self):
        self.admin("DELETE", "faults")

    def faults(self):
        return self.admin("GET", "faults")

    def config(self, **kw):
        return self.admin("POST", "config", kw)

    def add_account(self, api_key, api_secret, username):
        self.admin("POST", "accounts", {"api_key": api_key,
                                        "api_secret": api_secret,
                                        "username": username})
