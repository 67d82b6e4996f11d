"""Hostile input: files that are not files, aliases that explode, plan files
in a directory someone else can write, values past the size limits, and
text that tries to drive the terminal."""

import json
import os
import resource
import stat
import subprocess
import time

from harness import BIN, MAIN, PavesyncTest, main

EV_C = "SESSION:COMPLETE"
EV_S = "SESSION:STAGE_CHANGE"

ONE_ACCOUNT = """\
version: 1
accounts:
  main:
    api_key: ${MAIN_KEY}
    api_secret: ${MAIN_SECRET}
    username: ${MAIN_USER}
    callbacks:
%s"""


def instrumented():
    """Is the binary built with a sanitizer (which reserves terabytes of
    address space, so an address-space limit cannot apply to it)?"""
    with open(BIN, "rb") as f:
        data = f.read()
    return b"__asan_init" in data or b"__tsan_init" in data


class HostileInputTest(PavesyncTest):

    def no_escape(self, r):
        """Nothing printed holds a raw control character (colour is off in
        the tests, so not even ours)."""
        for text in (r.out, r.err):
            for ch in text:
                o = ord(ch)
                self.assertFalse((o < 0x20 and ch not in "\n\t") or 0x7f <= o <= 0x9f,
                                 "raw control character %r in %r" % (ch, text))

    # -- #2 alias amplification ---------------------------------------------

    def test_alias_amplification_fails_fast_with_its_location(self):
        big = "x" * 100000
        aliases = ", ".join(["*a"] * 50000)
        self.write_config(ONE_ACCOUNT % (
            "      %s:\n"
            "        url: https://hooks.example.com/x\n"
            "        payload:\n"
            "          big: &a \"%s\"\n"
            "          list: [%s]\n" % (EV_C, big, aliases)))
        self.assertGreater(os.path.getsize(self.config), 300000)
        limit = None
        if not instrumented():
            # 5 GB of expansion must not even be attempted: 512 MB is
            # plenty for the real work.
            def limit():
                resource.setrlimit(resource.RLIMIT_AS, (512 << 20, 512 << 20))
        proc = subprocess.run([BIN, "-c", self.config, "validate"], env=self.env,
                              capture_output=True, text=True, timeout=120,
                              preexec_fn=limit, stdin=subprocess.DEVNULL)
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("pavesync.yaml:12:", proc.stderr)
        self.assertIn("aliases expand the document to more than 33554432 bytes "
                      "of text (limit)", proc.stderr)
        self.assertNotIn("valid (", proc.stderr)
        self.assertNotIn("UTF-8", proc.stderr)

    # -- #4 files that are not regular files --------------------------------

    def test_fifo_device_or_directory_as_config_does_not_block(self):
        fifo = os.path.join(self.tmp, "fifo.yaml")
        os.mkfifo(fifo)
        for path, what in ((fifo, "a FIFO"), ("/dev/zero", "a device"),
                           (self.tmp, "a directory")):
            self.config = path
            r = self.run_ps("validate", expect=1, timeout=60)
            self.assertIn("cannot read the config file: not a regular file (%s)" % what,
                          r.err)
            r = self.run_ps("plan", expect=1, timeout=60)
            self.assertIn("not a regular file", r.err)

    def test_fifo_as_saved_plan_does_not_block_or_keep_the_lock(self):
        fifo = os.path.join(self.tmp, "plan.fifo")
        os.mkfifo(fifo)
        r = self.run_ps("apply", "--plan", fifo, expect=1, timeout=60)
        self.assertIn("not a regular file (a FIFO)", r.err)
        r = self.run_ps("apply", "--plan", "/dev/zero", expect=1, timeout=60)
        self.assertIn("not a regular file (a device)", r.err)
        self.assertEqual(self.emu.requests(), [])
        # The lock is free: a normal apply goes through at once.
        self.run_ps("apply", "--lock-timeout", "0", expect=0, timeout=60)

    def test_secret_file_that_is_a_fifo(self):
        fifo = os.path.join(self.tmp, "secret.fifo")
        os.mkfifo(fifo)
        self.write_config(ONE_ACCOUNT.replace("api_secret: ${MAIN_SECRET}",
                                              "api_secret_file: secret.fifo")
                          % ("      %s:\n        url: https://h.example/x\n" % EV_C))
        r = self.run_ps("validate", expect=1, timeout=60)
        self.assertIn("not a regular file (a FIFO)", r.err)

    # -- #6 plan -o ----------------------------------------------------------

    def test_plan_file_is_private_whatever_the_umask(self):
        out = os.path.join(self.tmp, "plan.json")
        old = os.umask(0)
        try:
            self.run_ps("plan", "-o", out, expect=0)
        finally:
            os.umask(old)
        self.assertEqual(stat.S_IMODE(os.stat(out).st_mode), 0o600)
        self.assertEqual(sorted(os.listdir(self.tmp)), ["home", "pavesync.yaml", "plan.json"])
        # Read back: it applies.
        self.run_ps("apply", "--plan", out, expect=0)

    def test_plan_file_does_not_follow_a_planted_symlink(self):
        out = os.path.join(self.tmp, "plan.json")
        victim = os.path.join(self.tmp, "victim")
        with open(victim, "w") as f:
            f.write("precious\n")
        os.symlink(victim, out + ".tmp")
        self.run_ps("plan", "-o", out, expect=0)
        with open(victim) as f:
            self.assertEqual(f.read(), "precious\n")
        self.assertTrue(os.path.islink(out + ".tmp"))
        self.assertFalse(os.path.islink(out))
        self.assertEqual(json.load(open(out))["kind"], "pavesync-plan")
        left = [n for n in os.listdir(self.tmp) if n.startswith("plan.json.") and n != "plan.json.tmp"]
        self.assertEqual(left, [])

    def test_failed_plan_write_leaves_no_temporary_file(self):
        out = os.path.join(self.tmp, "plan.json")
        os.mkdir(out)  # rename() cannot replace a directory
        r = self.run_ps("plan", "-o", out, expect=1)
        self.assertIn("cannot write the plan file", r.err)
        self.assertEqual(os.listdir(out), [])
        self.assertEqual(sorted(os.listdir(self.tmp)), ["home", "pavesync.yaml", "plan.json"])
        r = self.run_ps("plan", "-o", os.path.join(self.tmp, "no-such-dir", "p.json"), expect=1)
        self.assertIn("cannot write the plan file", r.err)

    def test_saved_plan_read_is_size_capped(self):
        out = os.path.join(self.tmp, "plan.json")
        with open(out, "wb") as f:
            f.truncate((64 << 20) + 1)  # sparse: costs nothing
        r = self.run_ps("apply", "--plan", out, expect=1)
        self.assertIn("larger than 67108864 bytes (limit)", r.err)
        self.assertEqual(self.emu.requests(), [])

    # -- #7 values past the encoder's limit ----------------------------------

    def test_value_past_the_limit_is_refused_not_truncated(self):
        # 1 MiB of U+0001 aliased 12 times: 12 MiB of text (within the
        # expansion budget) whose JSON encoding (\u0001) is 72 MiB, past
        # the 64 MiB limit of a request body, plan file or snapshot blob.
        big = "\\x01" * (1 << 20)
        self.write_config(ONE_ACCOUNT % (
            "      %s:\n"
            "        url: https://hooks.example.com/big\n"
            "        payload:\n"
            "          big: &a \"%s\"\n"
            "          more: [%s]\n"
            "      %s:\n"
            "        url: https://hooks.example.com/small\n"
            % (EV_C, big, ", ".join(["*a"] * 11), EV_S)))
        out = os.path.join(self.tmp, "plan.json")
        r = self.run_ps("plan", "-o", out, expect=1)
        self.assertIn("larger than 67108864 bytes (limit)", r.err)
        self.assertFalse(os.path.exists(out))
        r = self.run_ps("apply", expect=3)
        self.assertIn("request body would be larger than 67108864 bytes (limit)",
                      r.out + r.err)
        self.assertEqual(self.api_requests(), [("POST", EV_S)])
        self.assertEqual(list(self.emu.callbacks(MAIN[0])), [EV_S])
        snap = self.snapshot("main")
        self.assertEqual(list(snap["callbacks"]), [EV_S])
        self.assert_repo_clean()

    # -- #8 terminal escapes -------------------------------------------------

    def test_server_error_message_and_event_names_are_escaped(self):
        self.emu.add_fault(method="POST", event=EV_C, status=400,
                           body=json.dumps({"message": "nope \x1b]0;pwned\x07\x1b[2J\x9b31m"}))
        self.emu.add_fault(method="POST", event=EV_C, status=400,
                           body=json.dumps({"message": "nope \x1b]0;pwned\x07\x1b[2J\x9b31m"}))
        self.emu.add_fault(method="PUT", event=EV_C, status=400,
                           body=json.dumps({"message": "nope \x1b]0;pwned\x07\x1b[2J\x9b31m"}))
        r = self.run_ps("apply", "-a", "main")
        self.assertNotEqual(r.rc, 0, repr(r))
        self.no_escape(r)
        self.assertIn("nope \\x1b]0;pwned\\x07\\x1b[2J\\u009b31m", r.out + r.err)
        self.emu.clear_faults()
        evil = "SESSION:\x1b[31mEVIL\x1b]2;title\x07"
        self.emu.set_callbacks(MAIN[0], {evil: {"url": "https://x.example/\x1b[2J"}})
        r = self.run_ps("plan", "--refresh", "-a", "main")
        self.no_escape(r)
        self.assertIn("SESSION:\\x1b[31mEVIL\\x1b]2;title\\x07", r.out)
        r = self.run_ps("import", "-a", "main")
        self.no_escape(r)

    def test_config_text_with_control_characters_is_escaped(self):
        self.write_config(ONE_ACCOUNT % (
            "      %s:\n"
            "        url: https://hooks.example.com/x\n"
            "        \"ur\\el\": x\n"
            "        payload: {v: \"a\\x7fb\\u009b2J\\e[5m\"}\n" % EV_C))
        r = self.run_ps("validate", expect=1)
        self.no_escape(r)
        self.assertIn("ur\\x1bl", r.err)
        self.write_config(ONE_ACCOUNT % (
            "      %s:\n"
            "        url: https://hooks.example.com/x\n"
            "        payload: {v: \"a\\x7fb\\u009b2J\\e[5m\"}\n" % EV_C))
        r = self.run_ps("plan", expect=0)
        self.no_escape(r)
        self.assertIn("a\\x7fb\\u009b2J\\u001b[5m", r.out)
        # JSON too: DEL and C1 written as escapes, the same string decoded
        r = self.run_ps("plan", "--format", "json", expect=0)
        self.no_escape(r)
        fields = [f for a in r.json()["accounts"] for c in a["changes"] for f in c["fields"]]
        self.assertIn("a\x7fb\x9b2J\x1b[5m", [f.get("after") for f in fields])

    # -- #11 a secret file others can read -----------------------------------

    def test_warns_when_the_secret_file_is_readable_by_others(self):
        secret = os.path.join(self.tmp, "main.secret")
        with open(secret, "w") as f:
            f.write(MAIN[1] + "\n")
        self.write_config(ONE_ACCOUNT.replace("api_secret: ${MAIN_SECRET}",
                                              "api_secret_file: main.secret")
                          % ("      %s:\n        url: https://h.example/x\n" % EV_C))
        os.chmod(secret, 0o644)
        r = self.run_ps("validate", expect=0)
        self.assertIn("warning: %s:5:22: the api_secret_file of account \"main\" is "
                      "readable by every user (mode 0644" % self.config, r.err)
        r = self.run_ps("plan", expect=0)
        self.assertIn("readable by every user", r.err)
        os.chmod(secret, 0o640)
        r = self.run_ps("validate", expect=0)
        self.assertIn("readable by its group (mode 0640", r.err)
        os.chmod(secret, 0o600)
        r = self.run_ps("validate", expect=0)
        self.assertNotIn("warning", r.err)


    # -- #11 no core file of a process that holds secrets --------------------

    def test_no_core_dumps(self):
        # A slow list call keeps the process alive long enough to look.
        self.emu.add_fault(method="GET", delay_ms=3000, times=2)
        cmd = [BIN, "-c", self.config, "--state-repo", self.state, "plan", "--refresh"]
        proc = subprocess.Popen(cmd, env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        limits = None
        for _ in range(200):
            try:
                with open("/proc/%d/limits" % proc.pid) as f:
                    text = f.read()
                with open("/proc/%d/status" % proc.pid) as f:
                    status = f.read()
            except OSError:
                break
            # Only once the program runs (not while the loader does).
            if "State:" in status and self.emu.requests():
                limits = text
                st = os.stat("/proc/%d/environ" % proc.pid)
                break
            time.sleep(0.05)
        out, err = proc.communicate(timeout=120)
        self.assertEqual(proc.returncode, 0, err)
        self.assertIsNotNone(limits, "the process ended before it could be looked at")
        core = [line for line in limits.splitlines() if line.startswith("Max core file size")]
        self.assertEqual(core[0].split()[4:6], ["0", "0"], core)
        # Not dumpable: its /proc files belong to root, not to the user
        # (only visible when the tests do not run as root).
        if os.geteuid() != 0:
            self.assertEqual(st.st_uid, 0)


if __name__ == "__main__":
    main()
