"""--push: fetch + fast-forward before planning, push after; never force."""

import os
import signal
import subprocess
import time

from harness import BIN, PavesyncTest, main


class RemoteTest(PavesyncTest):

    def setUp(self):
        super().setUp()
        self.remote = os.path.join(self.tmp, "remote.git")
        subprocess.run(["git", "init", "-q", "--bare", self.remote], check=True, env=self.env)
        self.hosts = {}
        for h in ("a", "b"):
            d = os.path.join(self.tmp, "host-" + h)
            subprocess.run(["git", "init", "-q", "--bare", d], check=True, env=self.env)
            subprocess.run(["git", "--git-dir", d, "remote", "add", "origin", self.remote],
                           check=True, env=self.env)
            self.hosts[h] = d

    def on(self, host, *args, **kw):
        self.state = self.hosts[host]
        return self.run_ps(*args, **kw)

    def remote_log(self):
        return subprocess.run(["git", "--git-dir", self.remote, "log", "--format=%s", "pavesync-state"],
                              capture_output=True, text=True, env=self.env).stdout.splitlines()

    def test_two_hosts_share_one_remote(self):
        self.on("a", "apply", "--push", expect=0)
        self.assertEqual(self.remote_log(), ["pavesync: 3 created, 0 updated, 0 deleted"])
        # host b fetches a's snapshot first: nothing to do, no request
        self.emu.clear_requests()
        self.on("b", "apply", "--push", expect=0)
        self.assertEqual(self.emu.requests(), [])
        self.write_config(open(self.config).read().replace("pave/stage", "pave/stage-b"))
        self.on("b", "apply", "--push", expect=0)
        self.assertEqual(len(self.remote_log()), 2)
        # host a fast-forwards to b's commit before planning
        self.emu.clear_requests()
        self.on("a", "apply", "--push", expect=0)
        self.assertEqual(self.emu.requests(), [])
        a_head = subprocess.run(["git", "--git-dir", self.hosts["a"], "rev-parse", "pavesync-state"],
                                capture_output=True, text=True).stdout
        r_head = subprocess.run(["git", "--git-dir", self.remote, "rev-parse", "pavesync-state"],
                                capture_output=True, text=True).stdout
        self.assertEqual(a_head, r_head)

    def test_diverged_remote_is_an_error_never_a_force_push(self):
        self.on("a", "apply", "--push", expect=0)
        self.on("b", "apply", "--push", expect=0)
        # a commits without pushing, b commits and pushes: diverged
        self.write_config(open(self.config).read().replace("pave/stage", "pave/stage-a"))
        self.on("a", "apply", expect=0)
        self.write_config(open(self.config).read().replace("pave/stage-a", "pave/stage-b"))
        self.on("b", "apply", "--push", expect=0)
        before = self.remote_log()
        r = self.on("a", "apply", "--push", expect=1)
        self.assertIn("diverged", r.err)
        self.assertEqual(self.remote_log(), before)

    def test_refused_push_after_applied_calls_is_exit_4_and_the_next_push_lands(self):
        # The remote refuses pushes (a pre-receive hook); fetching works.
        hook = os.path.join(self.remote, "hooks", "pre-receive")
        with open(hook, "w") as f:
            f.write("#!/bin/sh\necho refused by policy >&2\nexit 1\n")
        os.chmod(hook, 0o755)
        r = self.on("a", "apply", "--push", expect=4)
        self.assertIn("committed locally", r.err)
        self.assertNotIn("No changes", r.out)
        self.assertEqual(len(self.emu.requests()), 3)
        self.assertEqual(self.remote_log(), [])
        self.assert_next_push_lands(hook)
        # A refused push with nothing applied stays exit 1.
        with open(hook, "w") as f:
            f.write("#!/bin/sh\nexit 1\n")
        os.chmod(hook, 0o755)
        self.write_config(open(self.config).read().replace("pave/stage", "pave/stage-x"))
        self.on("a", "apply", expect=0)
        self.on("a", "apply", "--push", expect=1)

    # -- git bounded by the run: deadline, SIGTERM ------------------------
    # A remote that hangs: a fetch whose upload-pack sleeps first, a push
    # whose pre-receive hook sleeps. Before, git had 300 s whatever the
    # run's --deadline or a SIGTERM said.

    def hang_fetch(self, host, marker):
        subprocess.run(["git", "--git-dir", self.hosts[host], "config", "remote.origin.uploadpack",
                        "touch %s; sleep 600; git-upload-pack" % marker], check=True, env=self.env)

    def hang_push(self, marker):
        hook = os.path.join(self.remote, "hooks", "pre-receive")
        with open(hook, "w") as f:
            f.write("#!/bin/sh\ntouch %s\nsleep 600\n" % marker)
        os.chmod(hook, 0o755)
        return hook

    def start_on(self, host, *args):
        cmd = [BIN, "-c", self.config, "--state-repo", self.hosts[host]] + list(args)
        return subprocess.Popen(cmd, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, stdin=subprocess.DEVNULL)

    def wait_for(self, path):
        end = time.time() + 60
        while not os.path.exists(path):
            self.assertLess(time.time(), end, "%s never appeared" % path)
            time.sleep(0.05)

    def assert_git_gone(self):
        """The hung git and what it started (the hook's or upload-pack's
        shell, named by a path in this test's directory) were ended."""
        time.sleep(0.2)
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        self.assertNotIn(self.tmp, ps)

    def assert_next_push_lands(self, hook):
        """Once the remote accepts again, the next run pushes the commit
        and calls nothing."""
        os.unlink(hook)
        self.emu.clear_requests()
        self.on("a", "apply", "--push", expect=0)
        self.assertEqual(self.emu.requests(), [])
        self.assertEqual(self.remote_log(), ["pavesync: 3 created, 0 updated, 0 deleted"])

    def test_sigterm_ends_a_hung_fetch_at_once(self):
        marker = os.path.join(self.tmp, "fetch-started")
        self.hang_fetch("a", marker)
        proc = self.start_on("a", "apply", "--push")
        self.wait_for(marker)
        start = time.time()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
        self.assertEqual(proc.returncode, 143, out + err)
        self.assertLess(time.time() - start, 60)  # was up to 300 s
        self.assertIn("interrupted (SIGINT/SIGTERM) before git finished", err)
        self.assertEqual(self.emu.requests(), [])
        self.assert_git_gone()
        # no lock left behind by git or by pavesync: the next run works
        subprocess.run(["git", "--git-dir", self.hosts["a"], "config", "--unset",
                        "remote.origin.uploadpack"], check=True, env=self.env)
        self.on("a", "apply", "--push", expect=0)
        self.assertEqual(self.remote_log(), ["pavesync: 3 created, 0 updated, 0 deleted"])

    def test_deadline_ends_a_hung_push_and_the_next_run_pushes(self):
        marker = os.path.join(self.tmp, "push-started")
        hook = self.hang_push(marker)
        start = time.time()
        r = self.on("a", "apply", "--push", "--deadline", "8", expect=4)
        self.assertLess(time.time() - start, 60)  # was up to 300 s
        self.assertTrue(os.path.exists(marker))
        self.assertIn("the run's deadline passed (--deadline) before git finished", r.err)
        self.assertIn("committed locally", r.err)
        self.assert_git_gone()
        self.assertEqual(len(self.emu.requests()), 3)
        self.assertEqual(self.remote_log(), [])
        self.assert_next_push_lands(hook)

    def test_sigterm_gives_a_push_its_grace_then_ends_it(self):
        marker = os.path.join(self.tmp, "push-started")
        hook = self.hang_push(marker)
        proc = self.start_on("a", "apply", "--push")
        self.wait_for(marker)
        start = time.time()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
        took = time.time() - start
        self.assertEqual(proc.returncode, 143, out + err)
        # the push had its grace (10 s) to publish the commit, no more
        self.assertGreaterEqual(took, 9)
        self.assertLess(took, 60)
        self.assertIn("interrupted (SIGINT/SIGTERM) before git finished", err)
        self.assertIn("committed locally", err)
        self.assert_git_gone()
        self.assertEqual(self.remote_log(), [])
        self.assert_next_push_lands(hook)


if __name__ == "__main__":
    main()
