"""apply against the emulator: drift-only updates, fallbacks, failures."""

import json
import os

from harness import BRANCH, MAIN, PavesyncTest, main

EV_C = "SESSION:COMPLETE"
EV_S = "SESSION:STAGE_CHANGE"


class ApplyTest(PavesyncTest):

    def test_first_apply_creates_and_commits(self):
        r = self.run_ps("apply", expect=0)
        self.assertIn("3 created", r.out)
        reqs = self.api_requests()
        self.assertEqual(sorted(reqs), sorted([("POST", EV_C), ("POST", EV_C), ("POST", EV_S)]))
        live = self.emu.callbacks(MAIN[0])
        self.assertEqual(sorted(live), [EV_C, EV_S])
        self.assertEqual(live[EV_S]["payload"], {"source": "PAVE", "retries": 3})
        self.assertEqual(live[EV_S]["headers"], {"Authorization": "Bearer hook-token-FROBOZZ"})
        commits = self.commits()
        self.assertEqual(len(commits), 1)
        self.assertEqual(commits[0][1], "pavesync: 3 created, 0 updated, 0 deleted")
        body = self.git("log", "-1", "--format=%b", "pavesync-state")
        self.assertIn("main/SESSION:STAGE_CHANGE: created", body)
        self.assertIn("branch/SESSION:COMPLETE: created", body)
        snap = self.snapshot("main")
        self.assertEqual(snap["format"], 2)
        self.assertEqual(snap["account"], "main")
        self.assertEqual(snap["callbacks"][EV_S]["url"], "https://hooks.example.com/pave/stage")
        self.assertTrue(snap["callbacks"][EV_S]["headers"]["authorization"].startswith("(sensitive) hmac-sha256:"))
        # canonical: sorted keys, two-space indent, final newline
        raw = self.git("show", "pavesync-state:accounts/main.json")
        self.assertEqual(raw, json.dumps(snap, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
        self.assert_repo_clean()

    def test_second_apply_makes_no_request_and_no_commit(self):
        self.run_ps("apply", expect=0)
        self.emu.clear_requests()
        r = self.run_ps("apply", expect=0)
        self.assertIn("No changes", r.out)
        self.assertEqual(self.emu.requests(), [])
        self.assertEqual(self.emu.stats()["connections"], 0)
        self.assertEqual(len(self.commits()), 1)

    def test_one_drifted_event_is_one_put(self):
        self.run_ps("apply", expect=0)
        self.emu.clear_requests()
        self.write_config(open(self.config).read().replace(
            "pave/complete", "pave/complete-v2"))
        r = self.run_ps("apply", expect=0)
        self.assertEqual(self.api_requests(), [("PUT", EV_C)])
        self.assertEqual(self.emu.callbacks(MAIN[0])[EV_C]["url"],
                         "https://hooks.example.com/pave/complete-v2")
        self.assertIn("1 updated", r.out)
        self.assertEqual(self.commits()[0][1], "pavesync: 0 created, 1 updated, 0 deleted")

    def test_rotated_header_secret_is_drift_and_never_stored(self):
        self.run_ps("apply", expect=0)
        self.emu.clear_requests()
        self.extra_secrets = ["rotated-token-QUUX"]
        r = self.run_ps("apply", "--format", "json",
                        env={"HOOK_TOKEN": "rotated-token-QUUX"}, expect=0)
        self.assertEqual(sorted(self.api_requests()),
                         sorted([("PUT", EV_C), ("PUT", EV_C), ("PUT", EV_S)]))
        doc = r.json()
        fields = [f for a in doc["accounts"] for c in a["changes"] for f in c["fields"]]
        self.assertTrue(all(f.get("sensitive") for f in fields), fields)
        self.assertEqual(self.emu.callbacks(MAIN[0])[EV_C]["headers"]["Authorization"],
                         "Bearer rotated-token-QUUX")
        self.assert_repo_clean()

    def test_plan_json_shape(self):
        r = self.run_ps("plan", "--format", "json", expect=0)
        doc = r.json()
        self.assertEqual(doc["format"], 1)
        self.assertEqual(doc["summary"], {"create": 3, "update": 0, "delete": 0, "unchanged": 0})
        self.assertIsNone(doc["commit"])
        names = [a["name"] for a in doc["accounts"]]
        self.assertEqual(names, ["branch", "main"])
        ch = doc["accounts"][1]["changes"][0]
        self.assertEqual(ch["event"], EV_C)
        self.assertEqual(ch["action"], "create")
        self.assertEqual(ch["origin"], "config")
        self.assertEqual(ch["status"], "planned")
        paths = {f["path"]: f for f in ch["fields"]}
        self.assertEqual(paths["url"]["after"], "https://hooks.example.com/pave/complete")
        self.assertEqual(paths["headers.authorization"], {"path": "headers.authorization", "sensitive": True})
        self.assertEqual(self.emu.requests(), [])
        # apply --format json reports statuses and the commit
        r = self.run_ps("apply", "--format", "json", expect=0)
        doc = r.json()
        self.assertRegex(doc["commit"], "^[0-9a-f]{40}$")
        self.assertEqual({c["status"] for a in doc["accounts"] for c in a["changes"]}, {"ok"})

    def test_prune_deletes_only_when_asked(self):
        self.run_ps("apply", expect=0)
        self.emu.clear_requests()
        cfg = open(self.config).read()
        cfg = cfg.replace("      SESSION:COMPLETE:\n        url: https://hooks.example.com/pave/complete\n", "")
        self.write_config(cfg)
        r = self.run_ps("plan", expect=0)
        self.assertIn("unmanaged: SESSION:COMPLETE", r.out)
        r = self.run_ps("apply", expect=0)
        self.assertEqual(self.emu.requests(), [])
        r = self.run_ps("apply", "--prune", expect=0)
        self.assertEqual(self.api_requests(), [("DELETE", EV_C)])
        self.assertEqual(sorted(self.emu.callbacks(MAIN[0])), [EV_S])
        self.assertNotIn(EV_C, self.snapshot("main")["callbacks"])
        self.assertEqual(self.commits()[0][1], "pavesync: 0 created, 0 updated, 1 deleted")

    def test_delete_404_counts_as_done(self):
        self.run_ps("apply", expect=0)
        self.emu.set_callbacks(MAIN[0], {EV_S: self.emu.callbacks(MAIN[0])[EV_S]})
        cfg = open(self.config).read().replace(
            "      SESSION:COMPLETE:\n        url: https://hooks.example.com/pave/complete\n", "")
        self.write_config(cfg)
        self.run_ps("apply", "--prune", expect=0)
        self.assertNotIn(EV_C, self.snapshot("main")["callbacks"])

    def test_500_on_one_event_commits_the_rest(self):
        self.emu.add_fault(method="POST", event=EV_S, status=500)
        r = self.run_ps("apply", "--retries", "1", expect=3)
        self.assertIn("failed", r.out)
        snap = self.snapshot("main")
        self.assertEqual(sorted(snap["callbacks"]), [EV_C])
        self.assertIn("2 created", self.commits()[0][1])
        self.emu.clear_faults()
        self.emu.clear_requests()
        self.run_ps("apply", expect=0)
        self.assertEqual(self.api_requests(), [("POST", EV_S)])
        self.assertEqual(sorted(self.snapshot("main")["callbacks"]), [EV_C, EV_S])

    def test_429_with_retry_after_is_retried(self):
        self.emu.add_fault(method="POST", event=EV_S, status=429, retry_after="1", times=1)
        r = self.run_ps("apply", expect=0)
        posts = [r for r in self.emu.requests() if r["method"] == "POST" and r["event"] == EV_S]
        self.assertEqual([p["status"] for p in posts], [429, 200])

    def test_wrong_secret_stops_that_account(self):
        self.write_config(open(self.config).read())
        r = self.run_ps("apply", env={"MAIN_SECRET": "wrong-secret"}, expect=3)
        main_reqs = [q for q in self.emu.requests() if q["api_key"] == MAIN[0]]
        self.assertEqual(len(main_reqs), 1, main_reqs)
        self.assertEqual(main_reqs[0]["status"], 401)
        self.assertIn("not tried", r.out)
        # the other account went ahead and was committed
        self.assertEqual(sorted(self.snapshot("branch")["callbacks"]), [EV_C])
        self.git("show", "pavesync-state:accounts/branch.json")
        self.assertEqual(self.git("ls-tree", "--name-only", "pavesync-state", "accounts/").split(),
                         ["accounts/branch.json"])

    def test_only_bad_credentials_exit_1(self):
        r = self.run_ps("apply", "-a", "main", env={"MAIN_SECRET": "wrong"}, expect=1)
        self.assertIn("401", r.out + r.err)
        self.assertEqual(self.commits(), [])

    def test_create_over_existing_callback_falls_back_to_put(self):
        self.emu.set_callbacks(MAIN[0], {EV_C: {"event": EV_C, "url": "https://old.example.com/x"}})
        self.run_ps("apply", "-a", "main", expect=0)
        reqs = [(q["method"], q["event"], q["status"]) for q in self.emu.requests()]
        self.assertIn(("POST", EV_C, 400), reqs)
        self.assertIn(("PUT", EV_C, 200), reqs)
        self.assertEqual(self.emu.callbacks(MAIN[0])[EV_C]["url"], "https://hooks.example.com/pave/complete")

    def test_update_of_missing_callback_falls_back_to_post(self):
        self.run_ps("apply", expect=0)
        self.emu.set_callbacks(MAIN[0], {})
        self.write_config(open(self.config).read().replace("pave/stage", "pave/stage2"))
        self.emu.clear_requests()
        self.run_ps("apply", expect=0)
        reqs = [(q["method"], q["event"], q["status"]) for q in self.emu.requests()]
        self.assertEqual(reqs, [("PUT", EV_S, 404), ("POST", EV_S, 200)])

    def test_echo_that_drops_a_field_is_reported(self):
        self.emu.add_fault(method="POST", event=EV_S, drop_field="payload")
        r = self.run_ps("apply", "-a", "main", expect=3)
        self.assertIn("echoed", r.out)
        self.assertIn("payload", r.out)
        # the snapshot records what the server really holds: next run retries
        self.emu.clear_faults()
        self.emu.clear_requests()
        self.run_ps("apply", "-a", "main", expect=0)
        self.assertEqual(self.api_requests(), [("PUT", EV_S)])

    def test_mass_delete_guard_and_max_changes(self):
        self.run_ps("apply", expect=0)
        self.write_config("""\
            version: 1
            accounts:
              main:
                api_key: ${MAIN_KEY}
                api_secret: ${MAIN_SECRET}
                username: ${MAIN_USER}
                prune: true
                callbacks: {}
            """)
        self.emu.clear_requests()
        r = self.run_ps("apply", expect=1)
        self.assertIn("--force", r.err)
        self.assertEqual(self.emu.requests(), [])
        self.write_config(open(self.config).read())
        r = self.run_ps("apply", "--force", expect=0)
        self.assertEqual(sorted(self.api_requests()), [("DELETE", EV_C), ("DELETE", EV_S)])
        # --max-changes
        self.write_config(__import__("harness").CONFIG.replace("pave/", "pave2/"))
        r = self.run_ps("apply", "--max-changes", "1", expect=1)
        self.assertIn("--max-changes", r.err)

    def test_orphaned_account_is_left_alone(self):
        self.run_ps("apply", expect=0)
        cfg = open(self.config).read()
        start = cfg.index("  branch:")
        end = cfg.index("  main:")
        self.write_config(cfg[:start] + cfg[end:])
        self.emu.clear_requests()
        r = self.run_ps("apply", expect=0)
        self.assertIn("orphaned", r.out)
        self.assertEqual(self.emu.requests(), [])
        self.assertEqual(sorted(self.emu.callbacks(BRANCH[0])), [EV_C])

    def test_verbose_logs_requests_without_secrets(self):
        r = self.run_ps("-v", "apply", expect=0)
        self.assertIn("POST /v1/callbacks", r.err)
        self.assertIn("200", r.err)
        self.assertNotIn("Bearer", r.err)

    def test_verbose_lines_name_the_account(self):
        self.run_ps("apply", expect=0)
        self.write_config(open(self.config).read().replace("pave/stage", "pave/stage2"))
        r = self.run_ps("-v", "apply", "--refresh", expect=0)
        lines = [l for l in r.err.splitlines() if " /v1/callbacks" in l]
        self.assertEqual(sorted(l.split(" ->")[0] for l in lines),
                         ["account branch: GET /v1/callbacks",
                          "account main: GET /v1/callbacks",
                          "account main: PUT /v1/callbacks/SESSION:STAGE_CHANGE"], r.err)
        for l in lines:
            self.assertRegex(l, r"^account (main|branch): (GET|PUT) /v1/callbacks\S* -> 200 ")


if __name__ == "__main__":
    main()
