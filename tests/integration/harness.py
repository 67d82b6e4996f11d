"""Shared scaffolding for the integration tests.

Each test gets a fresh temporary directory (its own HOME, config file and
state repository), a fresh PAVE API emulator on 127.0.0.1, and runs the real
pavesync binary. Assertions look at what the emulator received, the exit
status, the output and the git repository afterwards.

Run a test file directly: it prints "N passed, N failed" and exits non-zero
on failure.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("PAVESYNC_SOURCE_ROOT") or os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "emulator"))

from emulator import Emulator  # noqa: E402

BIN = os.environ.get("PAVESYNC_BIN") or os.path.join(ROOT, "build", "cmd", "pavesync")

# Credentials of the test accounts. The secrets are distinctive so a scan of
# every git object and every output can prove they never leak.
MAIN = ("key-main-0001", "s3cr3t-main-XYZZY", "user-main")
BRANCH = ("key-branch-0002", "s3cr3t-branch-PLUGH", "user-branch")
HOOK_TOKEN = "hook-token-FROBOZZ"

CONFIG = """\
version: 1
defaults:
  headers:
    Authorization: "Bearer ${HOOK_TOKEN}"
accounts:
  branch:
    api_key: ${BRANCH_KEY}
    api_secret: ${BRANCH_SECRET}
    username: ${BRANCH_USER}
    callbacks:
      SESSION:COMPLETE:
        url: https://hooks.example.com/branch/complete
  main:
    api_key: ${MAIN_KEY}
    api_secret: ${MAIN_SECRET}
    username: ${MAIN_USER}
    callbacks:
      SESSION:STAGE_CHANGE:
        url: https://hooks.example.com/pave/stage
        payload: {source: PAVE, retries: 3}
      SESSION:COMPLETE:
        url: https://hooks.example.com/pave/complete
"""

SECRETS = [MAIN[1], BRANCH[1], HOOK_TOKEN]


class Result:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    def json(self):
        return json.loads(self.out)

    def __repr__(self):
        return "rc=%d\n--- stdout\n%s\n--- stderr\n%s" % (self.rc, self.out, self.err)


class PavesyncTest(unittest.TestCase):
    accounts = (MAIN, BRANCH)
    emulator_args = ()

    def setUp(self):
        # Cleanups, not tearDown: they run (last registered first) even
        # when a subclass's setUp fails after this point.
        self.tmp = tempfile.mkdtemp(prefix="pavesync-it-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.home = os.path.join(self.tmp, "home")
        os.makedirs(self.home)
        self.state = os.path.join(self.tmp, "state")
        self.config = os.path.join(self.tmp, "pavesync.yaml")
        self.emu = Emulator(accounts=self.accounts, extra_args=list(self.emulator_args))
        self.emu.start()
        self.addCleanup(self.emu.stop)
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": self.home,
            "NO_COLOR": "1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "PAVE_API_URL": self.emu.url,
            "HOOK_TOKEN": HOOK_TOKEN,
            "MAIN_KEY": MAIN[0], "MAIN_SECRET": MAIN[1], "MAIN_USER": MAIN[2],
            "BRANCH_KEY": BRANCH[0], "BRANCH_SECRET": BRANCH[1], "BRANCH_USER": BRANCH[2],
        }
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "TSAN_OPTIONS"):
            if k in os.environ:
                self.env[k] = os.environ[k]
        self.write_config(CONFIG)

    # -- running ---------------------------------------------------------

    def write_config(self, text):
        with open(self.config, "w") as f:
            f.write(textwrap.dedent(text))

    def run_ps(self, *args, env=None, expect=None, state=True, timeout=120):
        cmd = [BIN, "-c", self.config]
        if state:
            cmd += ["--state-repo", self.state]
        cmd += list(args)
        e = dict(self.env)
        if env:
            e.update(env)
        proc = subprocess.run(cmd, env=e, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
        r = Result(proc)
        if expect is not None:
            self.assertEqual(r.rc, expect, repr(r))
        self.assert_no_secret(r.out + r.err, "output of %s" % " ".join(args))
        return r

    # -- the state repository ---------------------------------------------

    def git(self, *args, check=True):
        proc = subprocess.run(["git", "--git-dir", self.gitdir()] + list(args),
                              env=self.env, capture_output=True, text=True)
        if check:
            self.assertEqual(proc.returncode, 0, proc.stderr)
        return proc.stdout

    def gitdir(self):
        dotgit = os.path.join(self.state, ".git")
        return dotgit if os.path.isdir(dotgit) else self.state

    def commits(self, ref="pavesync-state"):
        out = self.git("log", "--format=%H %s", ref, check=False)
        return [line.split(" ", 1) for line in out.splitlines() if line]

    def snapshot(self, account, ref="pavesync-state"):
        return json.loads(self.git("show", "%s:accounts/%s.json" % (ref, account)))

    def all_objects(self):
        """Every object in the repository, as text."""
        proc = subprocess.run(["git", "--git-dir", self.gitdir(), "cat-file",
                               "--batch-all-objects", "--batch"],
                              env=self.env, capture_output=True)
        return proc.stdout.decode("utf-8", "replace")

    def assert_no_secret(self, text, where):
        for s in SECRETS + list(getattr(self, "extra_secrets", [])):
            self.assertNotIn(s, text, "secret leaked into %s" % where)

    def assert_repo_clean(self):
        if not os.path.exists(self.gitdir()):
            return
        self.assert_no_secret(self.all_objects(), "the state repository")
        out = subprocess.run(["git", "--git-dir", self.gitdir(), "fsck", "--strict"],
                             env=self.env, capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)

    # -- the emulator -----------------------------------------------------

    def api_requests(self):
        return [(r["method"], r["event"]) for r in self.emu.requests()]


def main():
    loader = unittest.TestLoader()
    suite = loader.loadTestsFromModule(sys.modules["__main__"])
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    failed = len(result.failures) + len(result.errors)
    passed = result.testsRun - failed - len(result.skipped)
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed or result.testsRun == 0 else 0)
