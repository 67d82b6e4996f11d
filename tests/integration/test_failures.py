"""Failures are never dressed as success: after a wrong secret, a refused
connection or a TLS error the text summary says what failed (never "No
changes" or "up to date"), the JSON document carries the error per account
and a top-level status, and the exit status is 1 when nothing was applied."""

import os
import socket

from harness import MAIN, PavesyncTest, main

EV_C = "SESSION:COMPLETE"
SUCCESS_WORDS = ("No changes", "up to date")


_held = []


def closed_port():
    """A loopback port nobody listens on: bound and kept bound (never
    listening) for the life of the test process, so a connection to it is
    refused and no other process can take the port meanwhile."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    _held.append(s)
    return s.getsockname()[1]


class FailureTest(PavesyncTest):

    def assert_not_success(self, r):
        for w in SUCCESS_WORDS:
            self.assertNotIn(w, r.out, repr(r))

    def check_failed_everywhere(self, env, error_words, *extra):
        """plan --refresh, apply --refresh (text, -q and JSON) under env."""
        self.run_ps("apply", expect=0)
        commits = len(self.commits())
        for cmd in (("plan", "--refresh"), ("apply", "--refresh")):
            r = self.run_ps(*(cmd + extra), env=env, expect=1)
            self.assert_not_success(r)
            self.assertIn("Failed:", r.out)
            self.assertIn("2 of 2 accounts (branch, main)", r.out)
            r = self.run_ps("-q", *(cmd + extra), env=env, expect=1)
            self.assert_not_success(r)
            self.assertIn("error:", r.err)
            r = self.run_ps(*(cmd + extra + ("--format", "json")), env=env, expect=1)
            doc = r.json()
            self.assertEqual(doc["status"], "failed", r.out)
            for a in doc["accounts"]:
                self.assertEqual(a["status"], "failed")
                self.assertTrue(any(w in a["error"] for w in error_words), a["error"])
        self.assertEqual(len(self.commits()), commits)  # nothing recorded
        return r

    def test_wrong_secret(self):
        env = {"MAIN_SECRET": "wrong-secret-1", "BRANCH_SECRET": "wrong-secret-2"}
        self.extra_secrets = ["wrong-secret-1", "wrong-secret-2"]
        r = self.check_failed_everywhere(env, ("401", "authentication"))
        self.assertIn("401", r.json()["accounts"][0]["error"])

    def test_refused_connection(self):
        env = {"PAVE_API_URL": "http://127.0.0.1:%d" % closed_port()}
        self.check_failed_everywhere(env, ("connect", "refused", "onnection"),
                                     "--retries", "0")

    def test_tls_error(self):
        # https to the emulator's plain-http port: the TLS handshake fails.
        env = {"PAVE_API_URL": self.emu.url.replace("http://", "https://")}
        self.check_failed_everywhere(env, ("TLS", "SSL", "ssl", "tls"), "--retries", "0")

    def test_one_account_failing_is_partial(self):
        self.run_ps("apply", expect=0)
        self.write_config(open(self.config).read().replace("branch/complete", "branch/done"))
        env = {"MAIN_SECRET": "wrong-secret-1"}
        self.extra_secrets = ["wrong-secret-1"]
        r = self.run_ps("plan", "--refresh", env=env, expect=1)
        self.assert_not_success(r)
        self.assertIn("Failed: 1 of 2 accounts (main); for the others: 0 to create, "
                      "1 to update, 0 to delete.", r.out)
        r = self.run_ps("apply", "--refresh", "--format", "json", env=env, expect=3)
        doc = r.json()
        self.assertEqual(doc["status"], "partial")
        status = {a["name"]: a["status"] for a in doc["accounts"]}
        self.assertEqual(status, {"branch": "ok", "main": "failed"})
        self.assertIn("401", [a for a in doc["accounts"] if a["name"] == "main"][0]["error"])
        # main's snapshot is kept as it was, not emptied by the failed read
        self.assertIn(EV_C, self.snapshot("main")["callbacks"])
        self.assertEqual(self.snapshot("branch")["callbacks"][EV_C]["url"],
                         "https://hooks.example.com/branch/done")

    def test_without_libcurl(self):
        # libcurl is loaded by the first request only: with no usable
        # libcurl.so.4, a run that calls nothing works, and one that must
        # call says why it cannot.
        self.run_ps("apply", expect=0)
        lib = os.path.join(self.tmp, "lib")
        os.makedirs(lib)
        with open(os.path.join(lib, "libcurl.so.4"), "w") as f:
            f.write("not a library\n")
        env = {"LD_LIBRARY_PATH": lib}
        r = self.run_ps("plan", env=env, expect=0)
        self.assertIn("No changes", r.out)
        self.run_ps("apply", env=env, expect=0)
        r = self.run_ps("plan", "--refresh", env=env, expect=1)
        self.assert_not_success(r)
        self.assertIn("cannot load libcurl.so.4: ", r.out + r.err)
        self.assertIn("libcurl.so.4: file too short", r.out + r.err)

    def test_without_libgit2(self):
        # libgit2 is loaded when the state is first needed: with no usable
        # libgit2.so.1.5, what reads no state works, and what must says
        # why it cannot, as an error (status 1), not a crash.
        self.run_ps("apply", expect=0)
        commits = len(self.commits())
        lib = os.path.join(self.tmp, "lib")
        os.makedirs(lib)
        with open(os.path.join(lib, "libgit2.so.1.5"), "w") as f:
            f.write("not a library\n")
        env = {"LD_LIBRARY_PATH": lib}
        r = self.run_ps("--version", env=env, expect=0, state=False)
        self.assertIn("pavesync", r.out)
        self.run_ps("validate", env=env, expect=0)
        for args, state in ((("plan",), True), (("apply",), True),
                            (("history",), True), (("plan",), False)):
            r = self.run_ps(*args, env=env, expect=1, state=state)
            self.assert_not_success(r)
            self.assertIn("cannot load libgit2.so.1.5: ", r.out + r.err, args)
            self.assertIn("libgit2.so.1.5: file too short", r.out + r.err)
        self.assertEqual(len(self.commits()), commits)  # nothing recorded
        r = self.run_ps("plan", expect=0)
        self.assertIn("No changes", r.out)

    def test_without_libcrypto(self):
        # libcrypto is loaded by the first hash (or the warm-up): without
        # a usable libcrypto.so.3, --version works, and anything that
        # reads the config says why it cannot (status 1), not "out of
        # memory" nor a crash.
        self.run_ps("apply", expect=0)
        commits = len(self.commits())
        lib = os.path.join(self.tmp, "lib")
        os.makedirs(lib)
        with open(os.path.join(lib, "libcrypto.so.3"), "w") as f:
            f.write("not a library\n")
        env = {"LD_LIBRARY_PATH": lib}
        # The run ends on the spot (_exit) on whichever thread met the
        # failure, as it would on running out of memory: the warm-up
        # thread is not joined, which ThreadSanitizer would report.
        env["TSAN_OPTIONS"] = ":".join(
            o for o in (self.env.get("TSAN_OPTIONS"), "report_thread_leaks=0") if o)
        r = self.run_ps("--version", env=env, expect=0, state=False)
        self.assertIn("pavesync", r.out)
        for args in (("validate",), ("plan",), ("apply",)):
            r = self.run_ps(*args, env=env, expect=1)
            self.assert_not_success(r)
            self.assertIn("cannot load libcrypto.so.3: ", r.err, args)
            self.assertIn("libcrypto.so.3: file too short", r.err)
            self.assertNotIn("out of memory", r.err)
        self.assertEqual(len(self.commits()), commits)  # nothing recorded

    def test_success_says_ok(self):
        r = self.run_ps("apply", "--format", "json", expect=0)
        self.assertEqual(r.json()["status"], "ok")
        self.assertEqual({a["status"] for a in r.json()["accounts"]}, {"ok"})
        r = self.run_ps("apply", "--refresh", expect=0)
        self.assertIn("No changes", r.out)


if __name__ == "__main__":
    main()
