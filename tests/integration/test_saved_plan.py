"""plan -o / apply --plan: exactly the saved plan, or a clear refusal."""

import os

from harness import SECRETS, PavesyncTest, main


class SavedPlanTest(PavesyncTest):

    def plan_file(self):
        return os.path.join(self.tmp, "plan.json")

    def test_apply_exactly_the_saved_plan(self):
        self.run_ps("plan", "-o", self.plan_file(), expect=0)
        text = open(self.plan_file()).read()
        for s in SECRETS:
            self.assertNotIn(s, text)
        self.assertEqual(self.emu.requests(), [])
        r = self.run_ps("apply", "--plan", self.plan_file(), expect=0)
        self.assertIn("3 created", r.out)
        self.assertEqual(len(self.emu.requests()), 3)

    def test_refuses_when_config_changed(self):
        self.run_ps("plan", "-o", self.plan_file(), expect=0)
        self.write_config(open(self.config).read().replace("pave/stage", "pave/other"))
        r = self.run_ps("apply", "--plan", self.plan_file(), expect=1)
        self.assertIn("config file changed", r.err)
        self.assertEqual(self.emu.requests(), [])

    def test_refuses_when_snapshot_changed(self):
        self.run_ps("plan", "-o", self.plan_file(), expect=0)
        self.run_ps("apply", "-a", "branch", expect=0)
        self.emu.clear_requests()
        r = self.run_ps("apply", "--plan", self.plan_file(), expect=1)
        self.assertIn("snapshot changed", r.err)
        self.assertEqual(self.emu.requests(), [])

    def test_refuses_when_api_url_changed(self):
        self.run_ps("plan", "-o", self.plan_file(), expect=0)
        r = self.run_ps("apply", "--plan", self.plan_file(), "--api-url", self.emu.url + "/",
                        expect=1)
        self.assertIn("API URL changed", r.err)

    def test_refuses_when_a_secret_rotated(self):
        self.run_ps("plan", "-o", self.plan_file(), expect=0)
        self.extra_secrets = ["rotated-HELLO"]
        r = self.run_ps("apply", "--plan", self.plan_file(), env={"HOOK_TOKEN": "rotated-HELLO"},
                        expect=1)
        self.assertIn("differ from the saved ones", r.err)

    def test_refuses_garbage(self):
        with open(self.plan_file(), "w") as f:
            f.write("{\"kind\": \"something\"}")
        r = self.run_ps("apply", "--plan", self.plan_file(), expect=1)
        self.assertIn("not a pavesync plan file", r.err)


if __name__ == "__main__":
    main()
