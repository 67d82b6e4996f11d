"""Unattended runs: concurrency, the lock, quiet output, kill -9."""

import fcntl
import os
import signal
import subprocess
import time

from harness import BIN, PavesyncTest, main

EVENTS = ["SESSION:SMS_PROCESS", "SESSION:STAGE_CHANGE", "SESSION:STATUS_CHANGE",
          "SESSION:COMPLETE", "SESSION:NOTE_INSERT"]
N = 24


def many_accounts(version="v1"):
    out = ["version: 1", "accounts:"]
    for i in range(N):
        out += ["  a%02d:" % i, "    api_key: many-key-%02d" % i, "    api_secret: ${MANY_SECRET}",
                "    username: many-user", "    callbacks:"]
        for ev in EVENTS:
            v = version if ev == "SESSION:COMPLETE" else "v1"
            out += ["      %s:" % ev, "        url: https://h.example.com/%s/%d/%s" % (v, i, ev)]
    return "\n".join(out) + "\n"


class CronTest(PavesyncTest):
    accounts = tuple(("many-key-%02d" % i, "many-secret-XYZ", "many-user") for i in range(N))

    def setUp(self):
        super().setUp()
        self.env["MANY_SECRET"] = "many-secret-XYZ"
        self.write_config(many_accounts())

    def test_concurrent_accounts_converge_in_order(self):
        self.emu.config(delay_ms=20)
        r = self.run_ps("apply", "--concurrency", "6", expect=0)
        self.assertIn("%d created" % (N * 5), r.out)
        reqs = self.emu.requests()
        self.assertEqual(len(reqs), N * 5)
        by_key = {}
        for q in reqs:
            by_key.setdefault(q["api_key"], []).append(q)
        self.assertEqual(len(by_key), N)
        for key, qs in by_key.items():
            # the calls of one account keep the plan's order, over one connection
            self.assertEqual([q["event"] for q in qs], sorted(EVENTS))
            self.assertEqual(len({q["connection"] for q in qs}), 1, key)
        self.assertEqual(self.emu.stats()["connections"], N)
        # and they really ran side by side: far less than the serial time
        # is not asserted (timing); the overlap of connections is
        spans = {}
        for q in reqs:
            s = spans.setdefault(q["connection"], [q["time"], q["time"]])
            s[0], s[1] = min(s[0], q["time"]), max(s[1], q["time"])
        overlapping = max(sum(1 for a, b in spans.values() if a <= t <= b)
                          for t in [q["time"] for q in reqs])
        self.assertGreater(overlapping, 1)
        self.assertLessEqual(overlapping, 6)
        self.assertEqual(len(self.commits()), 1)
        self.emu.clear_requests()
        self.write_config(many_accounts("v2"))
        r = self.run_ps("-q", "apply", "--concurrency", "6", expect=0)
        self.assertEqual(r.out.strip(), "pavesync: 0 created, %d updated, 0 deleted, 0 failed (snapshot %s)"
                         % (N, self.commits()[0][0][:12]))
        self.assertEqual(len(self.emu.requests()), N)

    def test_progress_line_only_on_a_terminal(self):
        import pty
        master, slave = pty.openpty()
        cmd = [BIN, "-c", self.config, "--state-repo", self.state, "apply"]
        p = subprocess.Popen(cmd, env=self.env, stdout=subprocess.DEVNULL, stderr=slave)
        os.close(slave)
        seen = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        p.wait()
        os.close(master)
        self.assertEqual(p.returncode, 0)
        self.assertIn(b"[%d/%d] 0 failed" % (N * 5, N * 5), seen)
        self.assertIn(b"\r", seen)
        # not a terminal: no progress line
        self.write_config(many_accounts("v2"))
        r = self.run_ps("apply", expect=0)
        self.assertNotIn("failed,", r.err)
        self.assertNotIn("\r", r.err)

    def test_kill_9_at_many_instants_never_breaks_the_repository(self):
        """SIGKILL at spread-out moments of an apply (planning, API calls,
        committing); after each, the repository passes fsck and a rerun
        converges."""
        self.run_ps("apply", expect=0)
        base = many_accounts()
        for round_, delay in enumerate([0.005, 0.02, 0.05, 0.1, 0.2, 0.4]):
            # every round changes every account, so each run has work to do
            self.write_config(base.replace("/v1/", "/r%d/" % round_))
            cmd = [BIN, "-c", self.config, "--state-repo", self.state, "apply", "--concurrency", "4"]
            p = subprocess.Popen(cmd, env=self.env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            time.sleep(delay)
            p.send_signal(signal.SIGKILL)
            p.wait()
            self.assert_repo_clean()
            r = self.run_ps("apply", expect=0)
            self.emu.clear_requests()
            self.run_ps("apply", expect=0)
            self.assertEqual(self.emu.requests(), [], "round %d did not converge" % round_)
            for i in range(N):
                live = self.emu.callbacks("many-key-%02d" % i)
                self.assertIn("/r%d/" % round_, live["SESSION:COMPLETE"]["url"])

    def test_quiet_run_prints_nothing_when_nothing_changed(self):
        self.run_ps("apply", expect=0)
        r = self.run_ps("-q", "apply", expect=0)
        self.assertEqual((r.out, r.err), ("", ""))
        r = self.run_ps("-q", "apply", "--refresh", expect=0)
        self.assertEqual((r.out, r.err), ("", ""))
        # a dashboard edit outside the config is recorded: one line of news
        cbs = self.emu.callbacks("many-key-00")
        cbs["SESSION:COMPLETE"]["url"] = "https://dash.example.com/x"
        self.emu.set_callbacks("many-key-00", cbs)
        self.write_config(many_accounts().replace(
            "      SESSION:COMPLETE:\n        url: https://h.example.com/v1/0/SESSION:COMPLETE\n", ""))
        r = self.run_ps("-q", "apply", "--refresh", expect=0)
        self.assertRegex(r.out, r"^pavesync: recorded changes made outside pavesync \(snapshot [0-9a-f]{12}\)\n$")
        self.assertEqual(r.err, "")
        r = self.run_ps("-q", "apply", "--refresh", expect=0)
        self.assertEqual((r.out, r.err), ("", ""))

    def test_held_lock_exits_75_and_lock_timeout_waits(self):
        self.run_ps("apply", expect=0)
        path = os.path.join(self.state, "pavesync.lock")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, b"pid %d\nhost test\nstarted 2026-01-01T00:00:00Z\n" % os.getpid())
        try:
            r = self.run_ps("apply", expect=75)
            self.assertIn("holds the lock", r.err)
            t0 = time.time()
            r = self.run_ps("apply", "--lock-timeout", "1", expect=75)
            self.assertGreaterEqual(time.time() - t0, 0.9)
        finally:
            os.unlink(path)
            os.close(fd)
        # plan takes no lock: it works while a run holds it
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            self.run_ps("plan", expect=0)
        finally:
            os.unlink(path)
            os.close(fd)

    def test_kill_9_mid_apply_then_rerun_converges(self):
        self.run_ps("apply", "-a", "a00", expect=0)   # make the repository
        self.emu.config(delay_ms=60)
        cmd = [BIN, "-c", self.config, "--state-repo", self.state, "apply", "--concurrency", "2"]
        p = subprocess.Popen(cmd, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline and len(self.emu.requests()) < 20:
            time.sleep(0.05)
        p.send_signal(signal.SIGKILL)
        p.wait()
        self.assertLess(len(self.emu.requests()), N * 5, "the run finished before the kill")
        self.emu.config(delay_ms=0)
        # a lock left by a killed process is taken over with a warning
        r = self.run_ps("apply", expect=0)
        self.assertIn("stale lock", r.err)
        self.assert_repo_clean()
        for i in range(N):
            live = self.emu.callbacks("many-key-%02d" % i)
            self.assertEqual(sorted(live), sorted(EVENTS))
        self.emu.clear_requests()
        self.run_ps("apply", expect=0)
        self.assertEqual(self.emu.requests(), [])
        r = self.run_ps("apply", "--refresh", "--format", "json", expect=0)
        self.assertEqual(r.json()["summary"]["create"] + r.json()["summary"]["update"], 0)


if __name__ == "__main__":
    main()
