"""Three-way drift: the snapshot keeps what pavesync last applied apart from
what it last saw live, so --on-drift fail holds on every run, conflicts stay
conflicts, and today's (format 1) snapshots are migrated once."""

import json
import subprocess

from harness import MAIN, PavesyncTest, main

EV_C = "SESSION:COMPLETE"
EV_S = "SESSION:STAGE_CHANGE"
CONFIG_URL = "https://hooks.example.com/pave/complete"
DASH_URL = "https://dash.example.com/edited"


class DriftTest(PavesyncTest):

    def dashboard_edit(self, event, **changes):
        """A hand edit on the PAVE dashboard (the emulator's admin endpoint)."""
        cbs = self.emu.callbacks(MAIN[0])
        cbs[event].update(changes)
        self.emu.set_callbacks(MAIN[0], cbs)

    def writes(self):
        return [q for q in self.api_requests() if q[0] != "GET"]

    def origins(self, r):
        return {(a["name"], c["event"]): c["origin"]
                for a in r.json()["accounts"] for c in a["changes"]}

    def test_on_drift_fail_holds_on_every_run_then_revert(self):
        self.run_ps("apply", expect=0)
        self.dashboard_edit(EV_C, url=DASH_URL)
        self.emu.clear_requests()
        for run in range(3):
            r = self.run_ps("apply", "--refresh", "--on-drift", "fail")
            self.assertNotEqual(r.rc, 0, "run %d: %r" % (run + 1, r))
            self.assertIn("(dashboard)", r.out, "run %d" % (run + 1))
            self.assertIn("left alone", r.out)
            self.assertEqual(self.writes(), [], "run %d wrote to the API" % (run + 1))
            self.assertEqual(self.emu.callbacks(MAIN[0])[EV_C]["url"], DASH_URL)
        # The same through JSON: the origin stays "dashboard".
        r = self.run_ps("apply", "--refresh", "--on-drift", "fail", "--format", "json")
        self.assertNotEqual(r.rc, 0)
        self.assertEqual(self.origins(r), {("main", EV_C): "dashboard"})
        # Only one refresh commit: later runs saw nothing new.
        subjects = [c[1] for c in self.commits()]
        self.assertEqual(subjects.count("pavesync: refresh: 1 change found outside pavesync"), 1,
                         subjects)
        # The snapshot keeps last-applied apart from what was seen live.
        snap = self.snapshot("main")
        self.assertEqual(snap["format"], 2)
        self.assertEqual(snap["callbacks"][EV_C]["url"], CONFIG_URL)
        self.assertEqual(snap["live"][EV_C]["url"], DASH_URL)
        r = self.run_ps("show", "-a", "main", expect=0)
        self.assertIn("live: POST %s (changed outside pavesync)" % DASH_URL, r.out)
        # A plan without --refresh still knows about the edit.
        r = self.run_ps("plan", "--format", "json", expect=0)
        self.assertEqual(self.origins(r), {("main", EV_C): "dashboard"})
        # revert overwrites it with the config's callback.
        self.emu.clear_requests()
        r = self.run_ps("apply", "--refresh", "--on-drift", "revert", expect=0)
        self.assertIn("(dashboard)", r.out)
        self.assertEqual(self.writes(), [("PUT", EV_C)])
        self.assertEqual(self.emu.callbacks(MAIN[0])[EV_C]["url"], CONFIG_URL)
        snap = self.snapshot("main")
        self.assertNotIn("live", snap)
        self.assertEqual(snap["callbacks"][EV_C]["url"], CONFIG_URL)
        # Converged: the next run takes the no-drift path.
        self.emu.clear_requests()
        r = self.run_ps("apply", expect=0)
        self.assertIn("No changes", r.out)
        self.assertEqual(self.emu.requests(), [])
        self.assert_repo_clean()

    def test_dashboard_set_back_ends_the_drift(self):
        self.run_ps("apply", expect=0)
        self.dashboard_edit(EV_C, url=DASH_URL)
        self.run_ps("apply", "--refresh", "--on-drift", "fail", expect=1)
        self.dashboard_edit(EV_C, url=CONFIG_URL)
        self.emu.clear_requests()
        r = self.run_ps("apply", "--refresh", "--on-drift", "fail", expect=0)
        self.assertEqual(self.writes(), [])
        self.assertNotIn("live", self.snapshot("main"))
        self.assertIn("No changes", r.out)

    def test_config_change_after_dashboard_edit(self):
        """The config moving on is the user's decision: config origin when it
        now matches live (adopted), conflict when it differs from both."""
        self.run_ps("apply", expect=0)
        self.dashboard_edit(EV_C, url=DASH_URL)
        self.run_ps("apply", "--refresh", "--on-drift", "fail", expect=1)
        # The config adopts the dashboard's URL: nothing to do, recorded.
        self.write_config(open(self.config).read().replace(CONFIG_URL, DASH_URL))
        self.emu.clear_requests()
        r = self.run_ps("apply", "--refresh", "--on-drift", "fail", expect=0)
        self.assertEqual(self.writes(), [])
        snap = self.snapshot("main")
        self.assertNotIn("live", snap)
        self.assertEqual(snap["callbacks"][EV_C]["url"], DASH_URL)

    def test_conflict_is_conflict_on_every_run(self):
        self.run_ps("apply", expect=0)
        self.dashboard_edit(EV_S, url="https://dash.example.com/s")
        self.write_config(open(self.config).read().replace("pave/stage", "pave/stage-v2"))
        self.emu.clear_requests()
        for run in range(3):
            r = self.run_ps("apply", "--refresh", "--on-drift", "fail", "--format", "json")
            self.assertEqual(r.rc, 1, "run %d: %r" % (run + 1, r))
            self.assertEqual(self.origins(r), {("main", EV_S): "conflict"}, "run %d" % (run + 1))
            self.assertEqual(self.writes(), [])
        r = self.run_ps("plan", "--refresh", expect=0)
        self.assertIn("(conflict)", r.out)
        r = self.run_ps("apply", "--refresh", expect=0)
        self.assertIn("(conflict)", r.out)
        self.assertEqual(self.emu.callbacks(MAIN[0])[EV_S]["url"],
                         "https://hooks.example.com/pave/stage-v2")
        self.assertNotIn("live", self.snapshot("main"))

    def test_dashboard_delete_left_alone(self):
        self.run_ps("apply", expect=0)
        cbs = self.emu.callbacks(MAIN[0])
        del cbs[EV_C]
        self.emu.set_callbacks(MAIN[0], cbs)
        self.emu.clear_requests()
        for _ in range(2):
            r = self.run_ps("apply", "--refresh", "--on-drift", "fail", "--format", "json",
                            expect=1)
            self.assertEqual(self.origins(r), {("main", EV_C): "dashboard"})
        self.assertEqual(self.writes(), [])
        snap = self.snapshot("main")
        self.assertIsNone(snap["live"][EV_C])
        self.assertIn(EV_C, snap["callbacks"])
        self.run_ps("apply", "--refresh", expect=0)
        self.assertEqual(self.writes(), [("POST", EV_C)])

    def format_1(self, account, **urls):
        """Rewrite an account's document as the previous release wrote it."""
        doc = self.snapshot(account)
        doc["format"] = 1
        for event, url in urls.items():
            doc["callbacks"][event]["url"] = url
        self.commit_doc(account, doc, "previous release (%s)" % account)

    def test_migration_from_format_1(self):
        self.run_ps("apply", expect=0)
        self.format_1("main")
        self.format_1("branch")
        before = len(self.commits())
        r = self.run_ps("plan", expect=0)       # reads it; writes nothing
        self.assertIn("No changes", r.out)
        self.assertNotIn("migrat", r.err)
        self.assertEqual(self.snapshot("main")["format"], 1)
        # A plain apply with nothing to change migrates both accounts, in
        # one commit of its own, and says so once.
        self.emu.clear_requests()
        r = self.run_ps("apply", expect=0)
        self.assertEqual(self.emu.requests(), [])
        self.assertEqual(r.err.count("migrated"), 1, r.err)
        self.assertIn("2 accounts (branch, main) to format 2", r.err)
        self.assertEqual(len(self.commits()), before + 1)
        self.assertEqual(self.commits()[0][1], "pavesync: snapshot migrated to format 2")
        for account in ("main", "branch"):
            self.assertEqual(self.snapshot(account)["format"], 2)
            self.assertNotIn("live", self.snapshot(account))
        # Said once: the next runs are quiet and write nothing.
        for args in (("apply",), ("apply", "--refresh")):
            r = self.run_ps(*args, expect=0)
            self.assertNotIn("migrat", r.err)
            self.assertEqual(len(self.commits()), before + 1)
        self.assert_repo_clean()

    def test_migration_reads_callbacks_as_last_applied(self):
        # The previous release's run 1 of --on-drift fail left the dashboard
        # edit recorded as the snapshot: migrated, that is last applied.
        self.run_ps("apply", expect=0)
        self.dashboard_edit(EV_C, url="https://old.example.com/recorded")
        self.format_1("main", **{EV_C: "https://old.example.com/recorded"})
        r = self.run_ps("apply", "--refresh", "--on-drift", "fail", "--format", "json",
                        expect=0)
        self.assertEqual(self.origins(r), {("main", EV_C): "config"})
        self.assertEqual(r.err.count("migrated"), 1, r.err)
        self.assertEqual(self.emu.callbacks(MAIN[0])[EV_C]["url"], CONFIG_URL)
        self.assertEqual(self.snapshot("main")["format"], 2)
        self.assertEqual(self.snapshot("main")["callbacks"][EV_C]["url"], CONFIG_URL)
        self.emu.clear_requests()
        r = self.run_ps("apply", expect=0)
        self.assertNotIn("migrat", r.err)
        self.assertEqual(self.emu.requests(), [])

    def commit_doc(self, account, doc, message):
        """Commit a document on the state ref with git itself."""
        text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
        blob = subprocess.run(["git", "--git-dir", self.gitdir(), "hash-object", "-w",
                               "--stdin"], input=text, env=self.env, capture_output=True,
                              text=True, check=True).stdout.strip()
        env = dict(self.env, GIT_INDEX_FILE=self.gitdir() + "/test-index")
        git = ["git", "--git-dir", self.gitdir()]
        subprocess.run(git + ["read-tree", "pavesync-state"], env=env, check=True)
        subprocess.run(git + ["update-index", "--cacheinfo",
                              "100644,%s,accounts/%s.json" % (blob, account)],
                       env=env, check=True)
        tree = subprocess.run(git + ["write-tree"], env=env, capture_output=True,
                              text=True, check=True).stdout.strip()
        env.update(GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@x", GIT_COMMITTER_NAME="t",
                   GIT_COMMITTER_EMAIL="t@x")
        commit = subprocess.run(git + ["commit-tree", tree, "-p", "pavesync-state",
                                       "-m", message], env=env, capture_output=True,
                                text=True, check=True).stdout.strip()
        subprocess.run(git + ["update-ref", "refs/heads/pavesync-state", commit],
                       env=env, check=True)


if __name__ == "__main__":
    main()
