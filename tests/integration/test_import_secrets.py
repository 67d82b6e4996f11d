"""import never prints a value the config marks sensitive, and keeps the
config's own names (credentials, ${VAR} references, !secret tags)."""

import os

from harness import MAIN, PavesyncTest, main

HOOK_URL = "https://hooks.example.com/private-path-ZORKMID"
PAYLOAD_TOKEN = "payload-env-token-GRUE"
LITERAL_SECRET = "payload-literal-XYZZY"
STATIC_HEADER = "static-header-PLOVER"

CONFIG = """\
version: 1
defaults:
  headers:
    Authorization: "Bearer ${HOOK_TOKEN}"
accounts:
  east:
    api_key: ${EAST_KEY}
    api_secret: ${EAST_SECRET}
    username: %s
    callbacks:
      SESSION:COMPLETE:
        url: ${HOOK_URL}
        headers:
          X-Static: %s
        payload: {token: !secret %s, env: "${PAYLOAD_TOKEN}", plain: visible}
      SESSION:STAGE_CHANGE:
        url: https://hooks.example.com/stage
""" % (MAIN[2], STATIC_HEADER, LITERAL_SECRET)


class ImportSecretsTest(PavesyncTest):
    extra_secrets = [HOOK_URL, PAYLOAD_TOKEN, LITERAL_SECRET, STATIC_HEADER, MAIN[0]]

    def setUp(self):
        super().setUp()
        self.env.update({"EAST_KEY": MAIN[0], "EAST_SECRET": MAIN[1],
                         "HOOK_URL": HOOK_URL, "PAYLOAD_TOKEN": PAYLOAD_TOKEN})
        self.write_config(CONFIG)
        self.run_ps("apply", expect=0)   # live is what the config asks for

    def test_sensitive_values_are_references_and_names_are_kept(self):
        r = self.run_ps("import", expect=0)   # run_ps fails on any secret in the output
        out = r.out
        # credentials as the config writes them, not renamed
        self.assertIn("api_key: \"${EAST_KEY}\"", out)
        self.assertIn("api_secret: \"${EAST_SECRET}\"", out)
        self.assertIn("username: \"%s\"" % MAIN[2], out)
        for renamed in ("EAST_API_KEY", "EAST_API_SECRET", "EAST_USERNAME"):
            self.assertNotIn(renamed, out + r.err)
        # env-built values: the config's own references
        self.assertIn("url: \"${HOOK_URL}\"", out)
        self.assertIn("\"Authorization\": \"Bearer ${HOOK_TOKEN}\"", out)
        self.assertIn("\"env\": \"${PAYLOAD_TOKEN}\"", out)
        # a literal !secret and a literal header value: new names, tag kept
        self.assertIn("\"token\": !secret \"${EAST_COMPLETE_TOKEN}\"", out)
        self.assertIn("\"X-Static\": \"${EAST_COMPLETE_X_STATIC}\"", out)
        self.assertIn("\"plain\": \"visible\"", out)
        # stderr lists what to set, new ones marked
        self.assertRegex(r.err, r"EAST_COMPLETE_TOKEN +\(new")
        self.assertRegex(r.err, r"\n  HOOK_URL\n")
        self.assertIn("  EAST_KEY\n", r.err)

        # the printed config, with the new variables set, is the live state
        imported = os.path.join(self.tmp, "imported.yaml")
        with open(imported, "w") as f:
            f.write(out)
        env = {"EAST_COMPLETE_TOKEN": LITERAL_SECRET, "EAST_COMPLETE_X_STATIC": STATIC_HEADER}
        self.config = imported
        self.run_ps("validate", env=env, expect=0, state=False)
        self.emu.clear_requests()
        r = self.run_ps("plan", "--refresh", "--format", "json", env=env, expect=0)
        s = r.json()["summary"]
        self.assertEqual((s["create"], s["update"], s["delete"]), (0, 0, 0))

    def test_a_sensitive_value_changed_live_gets_a_new_name(self):
        cbs = self.emu.callbacks(MAIN[0])
        cbs["SESSION:COMPLETE"]["url"] = "https://dash.example.com/other-ZORKMID"
        self.emu.set_callbacks(MAIN[0], cbs)
        self.extra_secrets = self.extra_secrets + ["other-ZORKMID"]
        r = self.run_ps("import", expect=0)
        self.assertIn("url: \"${EAST_COMPLETE_URL}\"", r.out)
        self.assertNotIn("${HOOK_URL}", r.out)
        self.assertRegex(r.err, r"EAST_COMPLETE_URL +\(new")

    def test_json_and_verbose_runs_leak_nothing_either(self):
        self.run_ps("-v", "import", expect=0)
        self.run_ps("import", "--seed", expect=0)
        self.assert_repo_clean()


if __name__ == "__main__":
    main()
