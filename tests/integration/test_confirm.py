"""apply asks on a terminal: a real pty (the pty module) on stdin and stdout,
as a person at a shell has. Answering anything but y/yes makes no API call
and changes nothing; --yes skips the question; without a terminal apply never
asks and never waits for input."""

import json
import os
import pty
import select
import signal
import subprocess
import time

from harness import BIN, PavesyncTest, main

QUESTION = b"Apply these changes? [y/N] "


class Terminal:
    """pavesync running on a fresh pty that is its controlling terminal."""

    def __init__(self, argv, env):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child
            try:
                os.execve(argv[0], argv, env)
            finally:
                os._exit(127)
        self.out = b""

    def read_until(self, what, timeout=60):
        deadline = time.monotonic() + timeout
        while what not in self.out:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no %r on the terminal; got:\n%s" % (what, self.text()))
            r, _, _ = select.select([self.fd], [], [], left)
            if r:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:  # EIO: the child closed the terminal
                    chunk = b""
                if not chunk:
                    raise AssertionError("terminal closed before %r:\n%s" % (what, self.text()))
                self.out += chunk

    def type(self, text):
        os.write(self.fd, text.encode())

    def wait(self, timeout=120):
        """Read everything until the child exits; return its exit status."""
        deadline = time.monotonic() + timeout
        while True:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            r, _, _ = select.select([self.fd], [], [], 0.05)
            if r:
                try:
                    chunk = os.read(self.fd, 4096)
                    self.out += chunk
                except OSError:
                    pass
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            if time.monotonic() > deadline:
                os.kill(self.pid, signal.SIGKILL)
                raise AssertionError("pavesync did not exit:\n" + self.text())

    def text(self):
        return self.out.decode("utf-8", "replace")


class ConfirmTest(PavesyncTest):

    def terminal(self, *args):
        return Terminal([BIN, "-c", self.config, "--state-repo", self.state] + list(args),
                        self.env)

    def test_no_makes_no_api_call(self):
        for answer in ("no", "", "n", "yess", "maybe"):
            t = self.terminal("apply")
            t.read_until(QUESTION)
            self.assertIn("Plan: 3 to create", t.text())
            t.type(answer + "\n")
            self.assertEqual(t.wait(), 1, t.text())
            self.assertIn("cancelled", t.text())
            self.assertEqual(self.emu.requests(), [], answer)
            self.assertEqual(self.commits(), [])
            self.assert_no_secret(t.text(), "the terminal")

    def test_end_of_input_is_no(self):
        t = self.terminal("apply")
        t.read_until(QUESTION)
        t.type("\x04")  # ^D: end of input
        self.assertEqual(t.wait(), 1, t.text())
        self.assertEqual(self.emu.requests(), [])

    def test_yes_applies(self):
        t = self.terminal("apply")
        t.read_until(QUESTION)
        t.type("YES\n")
        self.assertEqual(t.wait(), 0, t.text())
        self.assertEqual(len(self.emu.requests()), 3)
        self.assertEqual(len(self.commits()), 1)
        # Nothing to change: no question.
        t = self.terminal("apply")
        self.assertEqual(t.wait(), 0, t.text())
        self.assertNotIn(QUESTION, t.out)

    def test_yes_option_skips_the_question(self):
        for flag in ("--yes", "-y"):
            self.emu.set_callbacks("key-main-0001", {})
            self.emu.set_callbacks("key-branch-0002", {})
            subprocess.run(["rm", "-rf", self.state], check=True)
            t = self.terminal("apply", flag)
            self.assertEqual(t.wait(), 0, t.text())
            self.assertNotIn(QUESTION, t.out)
            self.assertIn("Applied: 3 created", t.text())

    def test_quiet_and_json_still_ask(self):
        t = self.terminal("-q", "apply")
        t.read_until(QUESTION)
        self.assertIn("Plan: 3 to create", t.text())
        t.type("n\n")
        self.assertEqual(t.wait(), 1, t.text())
        self.assertEqual(self.emu.requests(), [])

        t = self.terminal("apply", "--format", "json")
        t.read_until(QUESTION)
        before = t.text()
        self.assertNotIn("{", before)  # the question is not part of the JSON
        t.type("y\n")
        self.assertEqual(t.wait(), 0, t.text())
        rest = t.text()[len(before):].replace("\r\n", "\n")
        doc = json.loads(rest[rest.index('{\n  "accounts"'):])
        self.assertEqual(doc["summary"]["create"], 3)
        self.assertEqual(len(self.emu.requests()), 3)

    def test_without_a_terminal_it_never_asks_nor_waits(self):
        # stdin is a pipe that stays open and never carries a byte: a run
        # that waited for an answer would hang until the timeout.
        proc = subprocess.Popen([BIN, "-c", self.config, "--state-repo", self.state,
                                 "apply"], env=self.env, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = proc.communicate(timeout=120)
        finally:
            proc.kill()
        self.assertEqual(proc.returncode, 0, err)
        self.assertNotIn(QUESTION.strip(), out + err)
        self.assertEqual(len(self.emu.requests()), 3)

    def test_a_terminal_on_stdin_only_does_not_ask(self):
        # cron-like: output to a file or pipe, stdin a terminal.
        master, slave = pty.openpty()
        try:
            proc = subprocess.run([BIN, "-c", self.config, "--state-repo", self.state,
                                   "apply"], env=self.env, stdin=slave,
                                  capture_output=True, timeout=120)
        finally:
            os.close(master)
            os.close(slave)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(len(self.emu.requests()), 3)


if __name__ == "__main__":
    main()
