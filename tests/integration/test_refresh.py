"""--refresh: dashboard edits, origins, --on-drift, the refresh commit."""

from harness import MAIN, PavesyncTest, main

EV_C = "SESSION:COMPLETE"
EV_S = "SESSION:STAGE_CHANGE"


class RefreshTest(PavesyncTest):

    def dashboard_edit(self, event, **changes):
        cbs = self.emu.callbacks(MAIN[0])
        cbs[event].update(changes)
        self.emu.set_callbacks(MAIN[0], cbs)

    def test_dashboard_edit_unseen_without_refresh(self):
        self.run_ps("apply", expect=0)
        self.dashboard_edit(EV_C, url="https://evil.example.com/x")
        self.emu.clear_requests()
        r = self.run_ps("apply", expect=0)
        self.assertEqual(self.emu.requests(), [])
        self.assertIn("No changes", r.out)

    def test_dashboard_edit_reverted_with_refresh(self):
        self.run_ps("apply", expect=0)
        self.dashboard_edit(EV_C, url="https://evil.example.com/x")
        self.emu.clear_requests()
        r = self.run_ps("plan", "--refresh", "--format", "json", expect=0)
        doc = r.json()
        ch = [c for a in doc["accounts"] for c in a["changes"]]
        self.assertEqual([(c["event"], c["action"], c["origin"]) for c in ch],
                         [(EV_C, "update", "dashboard")])
        url = [f for f in ch[0]["fields"] if f["path"] == "url"][0]
        self.assertEqual(url["before"], "https://evil.example.com/x")
        # plan --refresh reads (one GET per account) and writes nothing
        self.assertEqual(sorted(self.api_requests()), [("GET", None), ("GET", None)])
        self.assertEqual(len(self.commits()), 1)
        self.emu.clear_requests()
        r = self.run_ps("apply", "--refresh", expect=0)
        self.assertIn("(dashboard)", r.out)
        reqs = self.api_requests()
        self.assertEqual(reqs.count(("GET", None)), 2)
        self.assertEqual([q for q in reqs if q[0] != "GET"], [("PUT", EV_C)])
        self.assertEqual(self.emu.callbacks(MAIN[0])[EV_C]["url"],
                         "https://hooks.example.com/pave/complete")
        subjects = [c[1] for c in self.commits()]
        self.assertEqual(subjects[0], "pavesync: 0 created, 1 updated, 0 deleted")
        self.assertEqual(subjects[1], "pavesync: refresh: 1 change found outside pavesync")
        body = self.git("log", "-1", "--format=%b", "pavesync-state~1")
        self.assertIn("main/SESSION:COMPLETE: changed outside pavesync", body)
        # the refresh commit recorded the dashboard's value
        old = self.git("show", "pavesync-state~1:accounts/main.json")
        self.assertIn("evil.example.com", old)
        self.assert_repo_clean()

    def test_conflict_and_on_drift_fail(self):
        self.run_ps("apply", expect=0)
        self.dashboard_edit(EV_C, url="https://dash.example.com/c")
        self.dashboard_edit(EV_S, url="https://dash.example.com/s")
        self.write_config(open(self.config).read().replace("pave/stage", "pave/stage-v2"))
        r = self.run_ps("plan", "--refresh", "--format", "json", expect=0)
        origins = {c["event"]: c["origin"] for a in r.json()["accounts"] for c in a["changes"]}
        self.assertEqual(origins, {EV_C: "dashboard", EV_S: "conflict"})
        self.emu.clear_requests()
        r = self.run_ps("apply", "--refresh", "--on-drift", "fail", expect=1)
        self.assertIn("outside pavesync", r.out)
        self.assertEqual([q for q in self.api_requests() if q[0] != "GET"], [])
        self.assertEqual(self.emu.callbacks(MAIN[0])[EV_C]["url"], "https://dash.example.com/c")

    def test_config_change_only_is_config_origin(self):
        self.run_ps("apply", expect=0)
        self.write_config(open(self.config).read().replace("pave/stage", "pave/stage-v2"))
        r = self.run_ps("apply", "--refresh", "--format", "json", expect=0)
        origins = {c["event"]: c["origin"] for a in r.json()["accounts"] for c in a["changes"]}
        self.assertEqual(origins, {EV_S: "config"})
        self.assertEqual(len(self.commits()), 2)  # no refresh commit: nothing drifted

    def test_dashboard_delete_and_create(self):
        self.run_ps("apply", expect=0)
        cbs = self.emu.callbacks(MAIN[0])
        del cbs[EV_C]
        cbs["SESSION:NOTE_INSERT"] = {"event": "SESSION:NOTE_INSERT", "url": "https://x.example.com/n",
                                      "headers": {"X-Secret": "dash-secret-ZORK"}}
        self.emu.set_callbacks(MAIN[0], cbs)
        self.extra_secrets = ["dash-secret-ZORK"]
        self.emu.clear_requests()
        r = self.run_ps("apply", "--refresh", expect=0)
        self.assertIn("unmanaged: SESSION:NOTE_INSERT", r.out)
        self.assertEqual([q for q in self.api_requests() if q[0] != "GET"], [("POST", EV_C)])
        body = self.git("log", "-1", "--format=%b", "pavesync-state~1")
        self.assertIn("main/SESSION:COMPLETE: deleted outside pavesync", body)
        self.assertIn("main/SESSION:NOTE_INSERT: created outside pavesync", body)
        # a header value set on the dashboard is sealed too
        self.assert_repo_clean()
        r = self.run_ps("apply", "--refresh", "--prune", expect=0)
        self.assertIn(("DELETE", "SESSION:NOTE_INSERT"), self.api_requests())


if __name__ == "__main__":
    main()
