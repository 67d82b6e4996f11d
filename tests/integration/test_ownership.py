"""Repositories of another user, unreadable HOMEs, unwritable directories.

Reproduced for real: the repository is made by root (the test runs as root,
as CI does) and pavesync runs as the user nobody through setpriv(1), so
libgit2's own ownership check (git's safe.directory rule) is what refuses
it. HOME unreadable is what systemd's ProtectHome= makes of /home.
"""

import os
import shutil
import subprocess

from harness import BIN, ROOT, PavesyncTest, Result, main

NOBODY = 65534


class OwnershipTest(PavesyncTest):

    def setUp(self):
        super().setUp()
        self.assertEqual(os.geteuid(), 0, "these tests switch users with setpriv: run them as root")
        os.chmod(self.tmp, 0o755)
        os.chmod(self.config, 0o644)
        # nobody may not reach the build tree (CI's checkout may sit in a
        # private directory): run a copy, with a copy of the LSan list
        self.nbin = os.path.join(self.tmp, "pavesync")
        shutil.copy(BIN, self.nbin)
        os.chmod(self.nbin, 0o755)
        self.nenv = {}
        supp = os.path.join(ROOT, "tests", "lsan.supp")
        if "LSAN_OPTIONS" in self.env:
            shutil.copy(supp, os.path.join(self.tmp, "lsan.supp"))
            os.chmod(os.path.join(self.tmp, "lsan.supp"), 0o644)
            self.nenv["LSAN_OPTIONS"] = "suppressions=" + os.path.join(self.tmp, "lsan.supp")
        self.env["GIT_AUTHOR_NAME"] = self.env["GIT_COMMITTER_NAME"] = "t"
        self.env["GIT_AUTHOR_EMAIL"] = self.env["GIT_COMMITTER_EMAIL"] = "t@example.com"
        # a HOME nobody can read, and one it owns
        self.locked_home = os.path.join(self.tmp, "locked")
        os.makedirs(self.locked_home, mode=0o000)
        os.chmod(self.locked_home, 0o000)
        self.own_home = os.path.join(self.tmp, "nobody-home")
        os.makedirs(self.own_home)
        os.chown(self.own_home, NOBODY, NOBODY)

    def as_nobody(self, *args, home, expect=None, state=True):
        cmd = ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups", "--",
               self.nbin, "-c", self.config]
        if state:
            cmd += ["--state-repo", self.state]
        e = dict(self.env)
        e.update(self.nenv)
        e["HOME"] = home
        p = subprocess.run(cmd + list(args), env=e, capture_output=True, text=True, timeout=120,
                           stdin=subprocess.DEVNULL)
        r = Result(p)
        if expect is not None:
            self.assertEqual(r.rc, expect, repr(r))
        self.assert_no_secret(r.out + r.err, "output")
        return r

    def chown_r(self, path, uid):
        for d, dirs, files in os.walk(path):
            os.chown(d, uid, uid)
            for f in files:
                os.chown(os.path.join(d, f), uid, uid)

    def readable(self, path):
        subprocess.run(["chmod", "-R", "a+rX", path], check=True)

    def test_repository_of_another_user_with_home_unreadable(self):
        self.run_ps("apply", expect=0)          # root's repository
        self.readable(self.state)
        r = self.as_nobody("plan", home=self.locked_home, expect=1)
        self.assertIn("is owned by another user (uid 0; pavesync runs as uid %d)" % NOBODY, r.err)
        self.assertIn("safe.directory", r.err)
        self.assertIn("HOME %s cannot be read" % self.locked_home, r.err)
        self.assertNotIn("not a git repository", r.err)
        # with a readable HOME: the same reason, and its advice works
        r = self.as_nobody("plan", home=self.own_home, expect=1)
        self.assertIn("owned by another user (uid 0", r.err)
        self.assertNotIn("not a git repository", r.err)
        self.assertIn("git config --global --add safe.directory %s" % os.path.realpath(self.state), r.err)
        subprocess.run(["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups", "--",
                        "git", "config", "--global", "--add", "safe.directory", os.path.realpath(self.state)],
                       env=dict(self.env, HOME=self.own_home), cwd=self.own_home, check=True)
        r = self.as_nobody("plan", "--detailed-exitcode", "--format", "json", home=self.own_home, expect=0)
        self.assertEqual(r.json()["summary"]["unchanged"], 3)

    def test_config_repository_of_another_user(self):
        # the default state repository: the git repository holding the config
        repo = os.path.join(self.tmp, "hooks")
        subprocess.run(["git", "init", "-q", repo], check=True, env=self.env)
        with open(self.config) as f:
            text = f.read()
        self.config = os.path.join(repo, "pavesync.yaml")
        with open(self.config, "w") as f:
            f.write(text)
        self.readable(repo)
        for home in (self.locked_home, self.own_home):
            r = self.as_nobody("plan", home=home, state=False, expect=1)
            self.assertIn("the repository %s is owned by another user (uid 0" % repo, r.err)
            self.assertNotIn("not a git repository", r.err)
            self.assertNotIn("was not found", r.err)

    def test_own_repository_with_home_unreadable_names_the_file(self):
        self.run_ps("apply", expect=0)
        self.chown_r(self.state, NOBODY)
        r = self.as_nobody("plan", home=self.locked_home, expect=1)
        self.assertIn("cannot read git's global config %s/.gitconfig (Permission denied)" % self.locked_home,
                      r.err)
        self.as_nobody("plan", "--detailed-exitcode", home=self.own_home, expect=0)

    def test_unwritable_directory_is_named_before_any_api_call(self):
        self.run_ps("apply", expect=0)
        self.chown_r(self.state, NOBODY)
        # what a `sudo git gc` in the repository leaves behind
        pack = os.path.join(self.state, "objects", "pack")
        os.chown(pack, 0, 0)
        os.chmod(pack, 0o755)
        self.write_config(open(self.config).read().replace("pave/stage", "pave/stage2"))
        self.emu.clear_requests()
        r = self.as_nobody("apply", home=self.own_home, expect=1)
        self.assertIn("cannot write to the state repository: %s: Permission denied" % pack, r.err)
        self.assertEqual(self.emu.requests(), [])
        self.assertEqual(len(self.commits()), 1)
        # given back to its user, the same run goes through
        os.chown(pack, NOBODY, NOBODY)
        self.as_nobody("apply", home=self.own_home, expect=0)
        self.assertEqual(len(self.emu.requests()), 1)
        self.assertEqual(len(self.commits()), 2)


if __name__ == "__main__":
    main()
