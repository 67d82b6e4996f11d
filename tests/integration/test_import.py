"""import: print a config from live callbacks; --seed writes the snapshot."""

import os

from harness import MAIN, PavesyncTest, main

LIVE = {
    "SESSION:COMPLETE": {"event": "SESSION:COMPLETE", "url": "https://h.example.com/c?x=$1",
                         "method": "PUT", "headers": {"X-Api-Token": "live-token-GNUSTO"},
                         "payload": {"n": 3, "s": "3", "b": True, "z": None, "l": [1, "a"]}},
    "SESSION:SMS_PROCESS": {"event": "SESSION:SMS_PROCESS", "url": "https://h.example.com/s"},
}


class ImportTest(PavesyncTest):
    extra_secrets = ["live-token-GNUSTO"]

    def setUp(self):
        super().setUp()
        self.write_config("""\
            version: 1
            accounts:
              main:
                api_key: ${MAIN_KEY}
                api_secret: ${MAIN_SECRET}
                username: ${MAIN_USER}
                callbacks: {}
            """)
        self.emu.set_callbacks(MAIN[0], LIVE)

    def test_import_prints_a_valid_config_without_secrets(self):
        r = self.run_ps("import", expect=0)
        self.assertIn("MAIN_COMPLETE_X_API_TOKEN", r.err)
        self.assertIn("${MAIN_COMPLETE_X_API_TOKEN}", r.out)
        self.assertIn("$$1", r.out)
        imported = os.path.join(self.tmp, "imported.yaml")
        with open(imported, "w") as f:
            f.write(r.out)
        env = {"MAIN_API_KEY": MAIN[0], "MAIN_API_SECRET": MAIN[1], "MAIN_USERNAME": MAIN[2],
               "MAIN_COMPLETE_X_API_TOKEN": "live-token-GNUSTO"}
        self.config = imported
        self.run_ps("validate", env=env, expect=0, state=False)
        # without a seed the first apply re-sends (POST falls back to PUT)
        r = self.run_ps("plan", env=env, expect=0)
        self.assertIn("2 to create", r.out)

    def test_seed_makes_first_apply_a_no_op(self):
        r = self.run_ps("import", "--seed", expect=0)
        self.assertEqual(self.commits()[0][1], "pavesync: import: snapshot seeded from live")
        imported = os.path.join(self.tmp, "imported.yaml")
        with open(imported, "w") as f:
            f.write(r.out)
        env = {"MAIN_API_KEY": MAIN[0], "MAIN_API_SECRET": MAIN[1], "MAIN_USERNAME": MAIN[2],
               "MAIN_COMPLETE_X_API_TOKEN": "live-token-GNUSTO"}
        self.config = imported
        self.emu.clear_requests()
        r = self.run_ps("apply", env=env, expect=0)
        self.assertIn("No changes", r.out)
        self.assertEqual(self.emu.requests(), [])
        self.assertEqual(len(self.commits()), 1)
        # and the payload types survived the round trip
        r = self.run_ps("apply", "--refresh", env=env, expect=0)
        self.assertEqual([q for q in self.api_requests() if q[0] != "GET"], [])
        self.assert_repo_clean()


if __name__ == "__main__":
    main()
