"""plan shows what apply will refuse, and why: a mass delete that needs
--force and a plan bigger than --max-changes are named in text and JSON;
--detailed-exitcode keeps its meaning."""

from harness import CONFIG, PavesyncTest, main

EV_C = "SESSION:COMPLETE"
EV_S = "SESSION:STAGE_CHANGE"
EMPTY_MAIN = """\
    version: 1
    defaults:
      headers:
        Authorization: "Bearer ${HOOK_TOKEN}"
    accounts:
      branch:
        api_key: ${BRANCH_KEY}
        api_secret: ${BRANCH_SECRET}
        username: ${BRANCH_USER}
        callbacks:
          SESSION:COMPLETE:
            url: https://hooks.example.com/branch/complete
      main:
        api_key: ${MAIN_KEY}
        api_secret: ${MAIN_SECRET}
        username: ${MAIN_USER}
        prune: true
        callbacks: {}
    """
EVERY = 'needs --force: deletes every callback of account "main"'


class GuardTest(PavesyncTest):

    def test_plan_names_a_mass_delete(self):
        self.run_ps("apply", expect=0)
        self.write_config(EMPTY_MAIN)
        r = self.run_ps("plan", expect=0)
        self.assertIn("- %s  delete [apply refuses: %s]" % (EV_C, EVERY), r.out)
        self.assertIn("- %s  delete [apply refuses: %s]" % (EV_S, EVERY), r.out)
        self.assertIn("Apply would refuse this plan: %s." % EVERY, r.out)
        r = self.run_ps("plan", "--detailed-exitcode", "--format", "json", expect=2)
        doc = r.json()
        self.assertEqual(doc["refused"], [EVERY])
        changes = [c for a in doc["accounts"] for c in a["changes"]]
        self.assertEqual([(c["event"], c["refused"]) for c in changes],
                         [(EV_C, EVERY), (EV_S, EVERY)])
        r = self.run_ps("-q", "plan", expect=0)
        self.assertIn("apply would refuse it: " + EVERY, r.out)
        # apply agrees, and shows the same marks before refusing
        self.emu.clear_requests()
        r = self.run_ps("apply", expect=1)
        self.assertIn("[apply refuses: %s]" % EVERY, r.out)
        self.assertIn("--force", r.err)
        self.assertEqual(self.emu.requests(), [])
        # with --force the plan has nothing to mark
        r = self.run_ps("plan", "--force", "--format", "json", expect=0)
        self.assertEqual(r.json()["refused"], [])
        for c in [c for a in r.json()["accounts"] for c in a["changes"]]:
            self.assertIsNone(c["refused"])
        r = self.run_ps("plan", "--force", expect=0)
        self.assertNotIn("refuse", r.out)

    def test_plan_names_max_changes(self):
        self.run_ps("apply", expect=0)
        self.write_config(CONFIG.replace("pave/", "pave2/"))
        r = self.run_ps("plan", "--max-changes", "1", expect=0)
        reason = "exceeds --max-changes 1 (the plan has 2 changes)"
        self.assertIn("Apply would refuse this plan: %s." % reason, r.out)
        self.assertEqual(r.out.count("[apply refuses: %s]" % reason), 2)
        r = self.run_ps("plan", "--max-changes", "1", "--detailed-exitcode", "--format", "json",
                        expect=2)
        self.assertEqual(r.json()["refused"], [reason])
        r = self.run_ps("plan", "--max-changes", "2", "--format", "json", expect=0)
        self.assertEqual(r.json()["refused"], [])
        r = self.run_ps("plan", "--max-changes", "1", "--force", expect=0)
        self.assertNotIn("refuse", r.out)
        r = self.run_ps("apply", "--dry-run", "--max-changes", "1", expect=0)
        self.assertIn("Apply would refuse this plan: %s." % reason, r.out)
        r = self.run_ps("apply", "--max-changes", "1", expect=1)
        self.assertIn("--max-changes", r.err)

    def test_plan_without_guard_marks_nothing(self):
        r = self.run_ps("plan", "--detailed-exitcode", "--format", "json", expect=2)
        self.assertEqual(r.json()["refused"], [])
        r = self.run_ps("plan", expect=0)
        self.assertNotIn("refuse", r.out)


if __name__ == "__main__":
    main()
