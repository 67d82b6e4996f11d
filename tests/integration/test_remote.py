"""--push: fetch + fast-forward before planning, push after; never force."""

import os
import subprocess

from harness import PavesyncTest, main


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
        # Once the remote accepts again, the next run pushes the commit
        # and calls nothing.
        os.unlink(hook)
        self.emu.clear_requests()
        self.on("a", "apply", "--push", expect=0)
        self.assertEqual(self.emu.requests(), [])
        self.assertEqual(self.remote_log(), ["pavesync: 3 created, 0 updated, 0 deleted"])
        # A refused push with nothing applied stays exit 1.
        with open(hook, "w") as f:
            f.write("#!/bin/sh\nexit 1\n")
        os.chmod(hook, 0o755)
        self.write_config(open(self.config).read().replace("pave/stage", "pave/stage-x"))
        self.on("a", "apply", expect=0)
        self.on("a", "apply", "--push", expect=1)


if __name__ == "__main__":
    main()
