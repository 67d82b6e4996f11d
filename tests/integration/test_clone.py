"""CI on a clone: the state ref as git clone leaves it, and --fetch.

The config repository pushes its snapshot with `apply --push`; a CI job then
has only what its checkout made: a full clone (refs/remotes/origin/
pavesync-state) or a shallow single-branch clone (no trace of the state ref).
"""

import os
import subprocess

from harness import PavesyncTest, main


class CloneTest(PavesyncTest):

    def setUp(self):
        super().setUp()
        self.env.update({"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
                         "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"})
        self.bare = os.path.join(self.tmp, "origin.git")
        self.sh("git", "init", "-q", "--bare", "-b", "main", self.bare)
        # the config's own repository, where operators run apply --push
        self.ops = os.path.join(self.tmp, "ops")
        self.sh("git", "init", "-q", "-b", "main", self.ops)
        with open(self.config) as f:
            text = f.read()
        with open(os.path.join(self.ops, "pavesync.yaml"), "w") as f:
            f.write(text)
        self.sh("git", "-C", self.ops, "add", "pavesync.yaml")
        self.sh("git", "-C", self.ops, "commit", "-q", "-m", "callbacks")
        self.sh("git", "-C", self.ops, "remote", "add", "origin", self.bare)
        self.sh("git", "-C", self.ops, "push", "-q", "origin", "main")
        self.config = os.path.join(self.ops, "pavesync.yaml")
        self.run_ps("apply", "--push", state=False, expect=0)
        self.remote_head = self.sh("git", "--git-dir", self.bare, "rev-parse", "pavesync-state").strip()
        self.emu.clear_requests()

    def sh(self, *cmd, cwd=None):
        p = subprocess.run(list(cmd), env=self.env, cwd=cwd, capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, "%s: %s" % (cmd, p.stderr))
        return p.stdout

    def refs(self, repo):
        return sorted(self.sh("git", "-C", repo, "for-each-ref", "--format=%(refname)").split())

    def in_clone(self, clone, *args, **kw):
        self.config = os.path.join(clone, "pavesync.yaml")
        return self.run_ps(*args, state=False, **kw)

    def test_full_clone_plans_from_the_remote_tracking_ref(self):
        clone = os.path.join(self.tmp, "ci")
        self.sh("git", "clone", "-q", self.bare, clone)
        before = self.refs(clone)
        self.assertIn("refs/remotes/origin/pavesync-state", before)
        self.assertNotIn("refs/heads/pavesync-state", before)
        r = self.in_clone(clone, "plan", "--detailed-exitcode", "--format", "json", expect=0)
        s = r.json()["summary"]
        self.assertEqual((s["create"], s["update"], s["delete"]), (0, 0, 0))
        self.assertEqual(s["unchanged"], 3)
        self.assertIn("refs/remotes/origin/pavesync-state", r.err)
        # read-only: no ref made, no request sent
        self.assertEqual(self.refs(clone), before)
        self.assertEqual(self.emu.requests(), [])
        # a real change in the clone is planned against the remote's snapshot
        with open(self.config) as f:
            text = f.read()
        with open(self.config, "w") as f:
            f.write(text.replace("pave/stage", "pave/stage2"))
        r = self.in_clone(clone, "plan", "--detailed-exitcode", "--format", "json", expect=2)
        self.assertEqual(r.json()["summary"]["update"], 1)
        self.assertEqual(r.json()["summary"]["create"], 0)

    def test_apply_in_a_clone_starts_from_the_remote_tracking_ref(self):
        clone = os.path.join(self.tmp, "host")
        self.sh("git", "clone", "-q", self.bare, clone)
        self.in_clone(clone, "apply", expect=0)
        self.assertEqual(self.emu.requests(), [])
        head = self.sh("git", "-C", clone, "rev-parse", "refs/heads/pavesync-state").strip()
        self.assertEqual(head, self.remote_head)

    def test_shallow_single_branch_clone_needs_fetch_and_says_so(self):
        clone = os.path.join(self.tmp, "shallow")
        self.sh("git", "clone", "-q", "--depth", "1", "--single-branch",
                "file://" + self.bare, clone)
        self.assertTrue(os.path.exists(os.path.join(clone, ".git", "shallow")))
        self.assertEqual([r for r in self.refs(clone) if "pavesync" in r], [])
        # without --fetch: the hint, on stderr, and the plan creates all
        r = self.in_clone(clone, "plan", "--detailed-exitcode", expect=2)
        self.assertIn("--fetch", r.err)
        self.assertIn("no snapshot", r.err)
        self.assertNotIn("--fetch", r.out)
        # with it: nothing to do, and only the tracking ref was written
        before = self.refs(clone)
        r = self.in_clone(clone, "plan", "--fetch", "--detailed-exitcode", "--format", "json", expect=0)
        s = r.json()["summary"]
        self.assertEqual((s["create"], s["update"], s["delete"], s["unchanged"]), (0, 0, 0, 3))
        after = self.refs(clone)
        self.assertEqual(sorted(set(after) - set(before)), ["refs/remotes/origin/pavesync-state"])
        self.assertFalse(os.path.exists(os.path.join(clone, ".git", "FETCH_HEAD")))
        self.assertEqual(self.sh("git", "-C", clone, "rev-parse", "refs/remotes/origin/pavesync-state").strip(),
                         self.remote_head)
        self.assertEqual(self.emu.requests(), [])
        # a second plan without --fetch now reads the tracking copy
        r = self.in_clone(clone, "plan", "--detailed-exitcode", expect=0)
        self.assertNotIn("no snapshot", r.err)

    def test_apply_fetch_and_push_from_a_shallow_clone(self):
        clone = os.path.join(self.tmp, "shallow")
        self.sh("git", "clone", "-q", "--depth", "1", "--single-branch",
                "file://" + self.bare, clone)
        self.in_clone(clone, "apply", "--fetch", expect=0)
        self.assertEqual(self.emu.requests(), [])
        self.assertEqual(self.sh("git", "-C", clone, "rev-parse", "refs/heads/pavesync-state").strip(),
                         self.remote_head)
        with open(self.config) as f:
            text = f.read()
        with open(self.config, "w") as f:
            f.write(text.replace("pave/stage", "pave/stage-ci"))
        self.in_clone(clone, "apply", "--push", expect=0)
        self.assertEqual(len(self.emu.requests()), 1)
        log = self.sh("git", "--git-dir", self.bare, "log", "--format=%s", "pavesync-state").splitlines()
        self.assertEqual(len(log), 2)
        fsck = subprocess.run(["git", "--git-dir", self.bare, "fsck", "--strict"],
                              env=self.env, capture_output=True, text=True)
        self.assertEqual(fsck.returncode, 0, fsck.stderr)

    def test_fetch_when_the_remote_has_no_state_yet(self):
        empty = os.path.join(self.tmp, "empty.git")
        self.sh("git", "init", "-q", "--bare", empty)
        clone = os.path.join(self.tmp, "c")
        self.sh("git", "clone", "-q", self.bare, clone)
        self.sh("git", "-C", clone, "remote", "add", "other", empty)
        r = self.in_clone(clone, "plan", "--fetch", "--remote", "other", "--detailed-exitcode", expect=2)
        self.assertIn("to create", r.out)
        r = self.in_clone(clone, "plan", "--fetch", "--remote", "nosuch", expect=1)
        self.assertIn('no remote named "nosuch"', r.err)


if __name__ == "__main__":
    main()
