"""The command line: validate, plan as a true dry-run, show, history, help,
repository discovery, exit codes, quiet and colour."""

import os
import subprocess

from harness import BIN, MAIN, PavesyncTest, main

EV_C = "SESSION:COMPLETE"


class CliTest(PavesyncTest):

    def test_version_and_help(self):
        r = self.run_ps("--version", expect=0, state=False)
        self.assertRegex(r.out, r"^pavesync \d+\.\d+\.\d+\n$")
        r = self.run_ps("--help", expect=0, state=False)
        for cmd in ("validate", "plan", "apply", "import", "show", "history"):
            self.assertIn(cmd, r.out)
            h = self.run_ps(cmd, "--help", expect=0, state=False)
            self.assertIn("usage: pavesync", h.out)
            self.assertIn(cmd, h.out)

    def test_usage_errors(self):
        r = self.run_ps("plna", expect=1, state=False)
        self.assertIn('unknown command "plna" (did you mean "plan"?)', r.err)
        r = self.run_ps("plan", "--refersh", expect=1, state=False)
        self.assertIn('did you mean "--refresh"', r.err)
        r = self.run_ps("validate", "--prune", expect=1, state=False)
        self.assertIn("not for the validate", r.err)
        r = self.run_ps("apply", "--max-changes", "x", expect=1, state=False)
        self.assertIn("--max-changes expects a whole number", r.err)
        r = self.run_ps(expect=1, state=False)
        self.assertIn("usage:", r.err)

    def test_validate(self):
        r = self.run_ps("validate", expect=0, state=False)
        self.assertIn("valid (2 accounts, 3 callbacks)", r.out + r.err)
        self.write_config("""\
            version: 1
            accounts:
              main:
                api_key: k
                api_secret: literal
                username: u
                callbacks:
                  SESSION:COMPLETED:
                    url: ftp://x
            """)
        r = self.run_ps("validate", expect=1, state=False)
        self.assertIn(self.config + ":5:", r.err)
        self.assertIn('did you mean "SESSION:COMPLETE"', r.err)
        r = self.run_ps("validate", "--format", "json", expect=1, state=False)
        doc = r.json()
        self.assertFalse(doc["valid"])
        self.assertGreaterEqual(len(doc["errors"]), 2)

    def test_plan_is_a_true_dry_run(self):
        # An API URL nobody listens on: plan must not try it.
        r = self.run_ps("plan", env={"PAVE_API_URL": "https://127.0.0.1:9"}, expect=0)
        self.assertIn("3 to create", r.out)
        self.assertFalse(os.path.exists(self.state), "plan created the state repository")
        self.assertEqual(self.emu.requests(), [])
        r = self.run_ps("plan", "--detailed-exitcode", expect=2)
        self.run_ps("apply", expect=0)
        r = self.run_ps("plan", "--detailed-exitcode", expect=0)
        self.assertIn("No changes", r.out)
        self.assertFalse(os.path.exists(os.path.join(self.state, "pavesync.lock")))

    def test_plan_shows_field_changes_and_hides_secrets(self):
        self.run_ps("apply", expect=0)
        self.write_config(open(self.config).read().replace("retries: 3", "retries: 5"))
        r = self.run_ps("plan", expect=0)
        self.assertIn("~ SESSION:STAGE_CHANGE", r.out)
        self.assertIn("payload.retries: 3 → 5", r.out)
        r = self.run_ps("plan", "-v", env={"HOOK_TOKEN": "new-token-GRUE"}, expect=0)
        self.assertIn("headers.authorization: (sensitive)", r.out)
        self.assertNotIn("new-token-GRUE", r.out + r.err)

    def test_quiet_is_silent_without_changes(self):
        r = self.run_ps("-q", "apply", expect=0)
        self.assertEqual(r.out.strip().count("\n"), 0)
        self.assertIn("3 created", r.out)
        r = self.run_ps("-q", "apply", expect=0)
        self.assertEqual(r.out, "")
        self.assertEqual(r.err, "")
        r = self.run_ps("-q", "plan", expect=0)
        self.assertEqual(r.out + r.err, "")

    def test_colour(self):
        r = self.run_ps("plan", "--color", "always", expect=0)
        self.assertIn("\033[", r.out)
        r = self.run_ps("plan", "--color", "auto", expect=0)
        self.assertNotIn("\033[", r.out)

    def test_show_and_history(self):
        r = self.run_ps("show", expect=0)
        self.assertIn("no snapshot yet", r.out + r.err)
        self.run_ps("apply", expect=0)
        r = self.run_ps("show", expect=0)
        self.assertIn("account main", r.out)
        self.assertIn("https://hooks.example.com/pave/stage", r.out)
        r = self.run_ps("show", "-a", "main", "--format", "json", expect=0)
        doc = r.json()
        self.assertEqual(list(doc["accounts"]), ["main"])
        self.assertRegex(doc["commit"], "^[0-9a-f]{40}$")
        self.write_config(open(self.config).read().replace("pave/stage", "pave/stage2"))
        self.run_ps("apply", expect=0)
        r = self.run_ps("history", expect=0)
        lines = r.out.splitlines()
        self.assertEqual(len(lines), 2)
        self.assertIn("pavesync: 0 created, 1 updated, 0 deleted", lines[0])
        self.assertIn("pavesync: 3 created", lines[1])
        r = self.run_ps("history", "-n", "1", "--format", "json", expect=0)
        self.assertEqual(len(r.json()), 1)

    def test_default_repository_is_the_config_repository(self):
        repo = os.path.join(self.tmp, "ops")
        os.makedirs(repo)
        subprocess.run(["git", "init", "-q", "-b", "main", repo], check=True, env=self.env)
        cfg = os.path.join(repo, "pavesync.yaml")
        with open(self.config) as src, open(cfg, "w") as dst:
            dst.write(src.read())
        subprocess.run(["git", "-C", repo, "add", "."], check=True, env=self.env)
        subprocess.run(["git", "-C", repo, "-c", "user.name=t", "-c", "user.email=t@x",
                        "commit", "-qm", "config"], check=True, env=self.env)
        head = subprocess.run(["git", "-C", repo, "rev-parse", "HEAD"], capture_output=True,
                              text=True, env=self.env).stdout
        self.config = cfg
        self.run_ps("apply", state=False, expect=0)
        out = subprocess.run(["git", "-C", repo, "log", "--format=%s", "pavesync-state"],
                             capture_output=True, text=True, env=self.env).stdout
        self.assertIn("pavesync: 3 created", out)
        # the user's branch, index and work tree are untouched
        self.assertEqual(subprocess.run(["git", "-C", repo, "rev-parse", "HEAD"], capture_output=True,
                                        text=True, env=self.env).stdout, head)
        st = subprocess.run(["git", "-C", repo, "status", "--porcelain"], capture_output=True,
                            text=True, env=self.env).stdout
        self.assertEqual(st, "")
        # refuse to commit to a checked-out state ref
        outside = os.path.join(self.tmp, "outside.yaml")
        with open(cfg) as src, open(outside, "w") as dst:
            dst.write(src.read())
        subprocess.run(["git", "-C", repo, "checkout", "-q", "pavesync-state"], check=True, env=self.env)
        self.config = outside
        r = self.run_ps("apply", "--state-repo", repo, state=False, expect=1)
        self.assertIn("checked out", r.err)

    def test_state_dir_beside_config_when_no_repository(self):
        self.run_ps("plan", state=False, expect=0)
        side = os.path.join(self.tmp, ".pavesync-state")
        self.assertFalse(os.path.exists(side))
        self.run_ps("apply", state=False, expect=0)
        self.assertTrue(os.path.isdir(side))
        out = subprocess.run(["git", "--git-dir", side, "log", "--oneline", "pavesync-state"],
                             capture_output=True, text=True, env=self.env).stdout
        self.assertEqual(len(out.splitlines()), 1)

    def test_state_ref_option(self):
        self.run_ps("--state-ref", "hooks/prod", "apply", expect=0)
        self.assertEqual(len(self.commits("hooks/prod")), 1)
        self.assertEqual(self.commits(), [])

    def test_changed_api_key_makes_snapshot_stale(self):
        self.run_ps("apply", expect=0)
        self.emu.add_account("key-main-NEW", MAIN[1], MAIN[2])
        self.emu.clear_requests()
        r = self.run_ps("plan", "-a", "main", env={"MAIN_KEY": "key-main-NEW"}, expect=0)
        self.assertIn("stale snapshot", r.out)
        self.assertEqual(self.emu.requests(), [])
        # apply reads that account live first (one GET), then creates
        r = self.run_ps("apply", "-a", "main", env={"MAIN_KEY": "key-main-NEW"}, expect=0)
        methods = [q["method"] for q in self.emu.requests()]
        self.assertEqual(methods[0], "GET")
        self.assertEqual(methods.count("POST"), 2)
        self.emu.clear_requests()
        self.run_ps("apply", "-a", "main", env={"MAIN_KEY": "key-main-NEW"}, expect=0)
        self.assertEqual(self.emu.requests(), [])

    def test_plain_http_refused_for_remote_hosts(self):
        r = self.run_ps("apply", env={"PAVE_API_URL": "http://pave.invalid:9"}, expect=1)
        self.assertIn("https", r.err)

    def test_unknown_account(self):
        r = self.run_ps("plan", "-a", "mian", expect=1)
        self.assertIn('did you mean "main"', r.err)


if __name__ == "__main__":
    main()
