"""The state ref is input too: damaged snapshots and a moved ref are refused
before any API call (issue 9 #3, #9), with the file, the field and the way
forward named."""

import json
import os
import subprocess

from harness import MAIN, PavesyncTest, main

EV_C = "SESSION:COMPLETE"
REF = "refs/heads/pavesync-state"


class StateGuardTest(PavesyncTest):

    def git_in(self, args, data=None):
        env = dict(self.env, GIT_AUTHOR_NAME="Someone", GIT_COMMITTER_NAME="Someone",
                   GIT_AUTHOR_EMAIL="someone@example.com",
                   GIT_COMMITTER_EMAIL="someone@example.com")
        proc = subprocess.run(["git", "--git-dir", self.gitdir()] + list(args),
                              env=env, input=data, capture_output=True,
                              text=True)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return proc.stdout.strip()

    def commit_doc(self, account, doc):
        """Commit `doc` (a dict, or raw text) as accounts/ACCOUNT.json on
        top of the state ref, the way a person with git would."""
        text = doc if isinstance(doc, str) else json.dumps(doc, indent=2) + "\n"
        blob = self.git_in(["hash-object", "-w", "--stdin"], text)
        entries = self.git_in(["ls-tree", REF + ":accounts"]).splitlines()
        entries = [e for e in entries if not e.endswith("\t%s.json" % account)]
        entries.append("100644 blob %s\t%s.json" % (blob, account))
        acc = self.git_in(["mktree"], "\n".join(entries) + "\n")
        root = self.git_in(["mktree"], "040000 tree %s\taccounts\n" % acc)
        head = self.git_in(["rev-parse", REF])
        commit = self.git_in(["commit-tree", root, "-p", head, "-m", "edit by hand"])
        self.git_in(["update-ref", "-m", "edit by hand", REF, commit, head])
        return commit

    # -- #3: every field of a snapshot document is checked ----------------

    def test_damaged_documents_are_refused_before_any_call(self):
        self.run_ps("apply", expect=0)
        good = self.snapshot("main")
        cases = [
            ("callbacks", dict(good, callbacks="oops"),
             'field "callbacks" is a string, expected an object'),
            ("fingerprint_key", {k: v for k, v in good.items() if k != "fingerprint_key"},
             'field "fingerprint_key" is missing'),
            ("headers", dict(good, callbacks=dict(good["callbacks"], **{
                EV_C: dict(good["callbacks"][EV_C], headers={"authorization": "Bearer x"})})),
             'field "callbacks.SESSION:COMPLETE.headers" value of "authorization" is not a fingerprint'),
            ("url", dict(good, callbacks=dict(good["callbacks"], **{
                EV_C: dict(good["callbacks"][EV_C], url=7)})),
             'field "callbacks.SESSION:COMPLETE.url" is a number, expected a string'),
            ("account", dict(good, account="branch"),
             'field "account" names another account'),
            ("unknown", dict(good, extra=1),
             'field "extra" is not a snapshot field'),
            ("live", dict(good, live={EV_C: "gone"}),
             'field "live.SESSION:COMPLETE" is a string, expected an object (a callback) or null'),
            ("live-headers", dict(good, live={EV_C: dict(good["callbacks"][EV_C],
                                                          headers="Authorization: x")}),
             'field "live.SESSION:COMPLETE.headers" is a string, expected an object or a fingerprint'),
            ("format", dict(good, format=3),
             "unsupported snapshot format"),
            ("truncated", json.dumps(good)[:40], "accounts/main.json at "),
        ]
        for name, doc, message in cases:
            with self.subTest(name):
                commit = self.commit_doc("main", doc)
                self.emu.clear_requests()
                for args in (["apply"], ["apply", "--refresh"], ["plan"]):
                    r = self.run_ps(*args, expect=1)
                    self.assertIn("accounts/main.json at %s" % commit[:12], r.err)
                    self.assertIn(message, r.err)
                    if name not in ("format", "truncated"):
                        self.assertIn("nothing was done", r.err)
                self.assertEqual(self.emu.requests(), [])
        # Put the good document back: the next run converges, no request.
        self.commit_doc("main", good)
        self.emu.clear_requests()
        self.run_ps("apply", expect=0)
        self.assertEqual(self.emu.requests(), [])

    # -- #9: a ref moved away from pavesync's history ------------------------

    def test_reflog_line_ahead_of_the_ref_is_an_interrupted_update(self):
        """libgit2 writes a ref update's reflog line before it moves the ref:
        a run killed between the two leaves a newest pavesync line for a
        commit the ref never reached. The next run is not refused, makes
        the change again and records it."""
        self.run_ps("apply", expect=0)
        head = self.git_in(["rev-parse", REF])
        tree = self.git_in(["rev-parse", REF + "^{tree}"])
        orphan = self.git_in(["commit-tree", tree, "-p", head, "-m", "pavesync: lost"])
        log = os.path.join(self.gitdir(), "logs", REF)
        with open(log, "a") as f:
            f.write("%s %s pavesync <pavesync@localhost> 1767225600 +0000\t"
                    "commit: pavesync: 1 updated\n" % (head, orphan))
        self.assertEqual(self.git_in(["rev-parse", REF]), head)
        self.write_config(open(self.config).read().replace(
            "https://", "https://v2.", 1))
        self.emu.clear_requests()
        r = self.run_ps("apply", expect=0)
        self.assertNotIn("whose history does not contain", r.err)
        self.assertEqual(len(self.emu.requests()), 1)
        self.assertEqual(self.git_in(["rev-parse", REF + "^"]), head)
        self.emu.clear_requests()
        self.run_ps("apply", expect=0)
        self.run_ps("plan", expect=0)
        self.assertEqual(self.emu.requests(), [])
        self.assert_repo_clean()

    def test_ref_moved_to_unrelated_commit_is_refused(self):
        self.run_ps("apply", expect=0)
        # The bare repository pavesync made keeps a reflog of the ref.
        self.assertEqual(self.git_in(["config", "core.logAllRefUpdates"]), "always")
        self.assertIn("pavesync: 3 created", self.git_in(["reflog", "show", REF]))
        last = self.git_in(["rev-parse", REF])
        empty = self.git_in(["mktree"], "")
        stranger = self.git_in(["commit-tree", empty, "-m", "unrelated"])
        self.git_in(["update-ref", REF, stranger])
        self.emu.clear_requests()
        for args in (["apply"], ["apply", "--refresh"], ["plan"], ["plan", "--refresh"]):
            r = self.run_ps(*args, expect=1)
            self.assertIn("whose history does not contain %s" % last[:12], r.err)
            self.assertIn("git update-ref %s %s" % (REF, last), r.err)
            self.assertIn("--adopt-state-ref", r.err)
        self.assertEqual(self.emu.requests(), [])
        self.assertEqual(self.git_in(["rev-parse", REF]), stranger)
        # Going back as the message says: converges with no request.
        self.git_in(["update-ref", REF, last])
        self.run_ps("apply", expect=0)
        self.assertEqual(self.emu.requests(), [])
        # A commit made on top by hand is part of the history: accepted.
        self.commit_doc("main", self.snapshot("main"))
        self.run_ps("apply", expect=0)
        self.assertEqual(self.emu.requests(), [])
        # Adopting the moved ref, once, on purpose.
        self.git_in(["update-ref", REF, stranger])
        r = self.run_ps("apply", "--adopt-state-ref", expect=0)
        self.assertIn("adopted the state ref", r.err)
        self.assertEqual(self.git_in(["rev-parse", REF + "^"]), stranger)
        self.emu.clear_requests()
        self.run_ps("apply", expect=0)
        self.run_ps("plan", expect=0)
        self.assertEqual(self.emu.requests(), [])
        self.assert_repo_clean()

    def test_work_tree_repository_keeps_its_reflog(self):
        subprocess.run(["git", "init", "-q", self.state], env=self.env, check=True)
        self.run_ps("apply", expect=0)
        last = self.git_in(["rev-parse", REF])
        stranger = self.git_in(["commit-tree", self.git_in(["mktree"], ""), "-m", "x"])
        self.git_in(["update-ref", REF, stranger])
        r = self.run_ps("apply", expect=1)
        self.assertIn("does not contain %s" % last[:12], r.err)

    # -- #11: a damaged repository is named as such -----------------------

    def test_truncated_pack_is_reported_as_damage(self):
        self.run_ps("apply", expect=0)
        self.git_in(["repack", "-adq"])
        self.git_in(["prune-packed"])
        packs = os.path.join(self.gitdir(), "objects", "pack")
        pack = [os.path.join(packs, f) for f in os.listdir(packs) if f.endswith(".pack")][0]
        os.truncate(pack, os.path.getsize(pack) // 2)
        self.emu.clear_requests()
        for args in (["plan"], ["apply"]):
            r = self.run_ps(*args, expect=1)
            self.assertIn("which cannot be read", r.err)
            self.assertIn("is damaged", r.err)
            self.assertNotIn("does not point at a commit", r.err)
        self.assertEqual(self.emu.requests(), [])

    def test_ref_at_a_blob_names_the_kind(self):
        self.run_ps("apply", expect=0)
        blob = self.git_in(["hash-object", "-w", "--stdin"], "hello\n")
        # git refuses to do this; a stray tool writing the file does not.
        with open(os.path.join(self.gitdir(), REF), "w") as f:
            f.write(blob + "\n")
        r = self.run_ps("plan", expect=1)
        self.assertIn("which is a blob, not a commit", r.err)


if __name__ == "__main__":
    main()
