"""validate --no-env (a pull request from a fork has no secrets) and the
plain-http api_url refused at its line and column by every command."""

import subprocess

from harness import BIN, PavesyncTest, main

FULL_OF_VARS = """\
version: 1
api_url: ${PAVE_URL}
state_repo: ${STATE_DIR:-state}
defaults:
  method: ${HOOK_METHOD}
  headers:
    Authorization: "Bearer ${HOOK_TOKEN}"
accounts:
  west:
    api_key: ${WEST_KEY}
    api_secret: ${WEST_SECRET}
    username: ${WEST_USER}
    callbacks:
      SESSION:COMPLETE:
        url: ${WEST_HOOK_URL}
        payload: {token: "${WEST_PAYLOAD_TOKEN}", n: 3}
      SESSION:STAGE_CHANGE:
        url: https://${HOOK_HOST}/stage
  east:
    api_key: ${EAST_KEY}
    api_secret_file: ${CREDENTIALS_DIRECTORY}/east-secret
    username: ${EAST_USER}
    callbacks:
      SESSION:NOTE_INSERT:
        url: https://hooks.example.com/east/notes
"""


class ValidateTest(PavesyncTest):

    def run_bare(self, *args, env=None):
        """The binary under `env -i` (plus what the sanitizers need)."""
        cmd = ["env", "-i"]
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "TSAN_OPTIONS"):
            if k in self.env:
                cmd.append("%s=%s" % (k, self.env[k]))
        for k, v in (env or {}).items():
            cmd.append("%s=%s" % (k, v))
        cmd += [BIN, "-c", self.config] + list(args)
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)

    def test_no_env_under_env_i(self):
        self.write_config(FULL_OF_VARS)
        r = self.run_bare("validate", "--no-env")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("valid (2 accounts, 3 callbacks)", r.stderr)
        r = self.run_bare("validate")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn(self.config + ":2:10: environment variable PAVE_URL is not set", r.stderr)
        self.assertIn("WEST_SECRET is not set", r.stderr)
        r = self.run_bare("validate", "--no-env", "--format", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('"valid": true', r.stdout)

    def test_no_env_keeps_structural_rules(self):
        self.write_config(FULL_OF_VARS.replace("SESSION:NOTE_INSERT", "SESSION:NOTE_INSERTED")
                          .replace("username: ${EAST_USER}", "username: ${EAST_USER}\n    prnue: true"))
        r = self.run_bare("validate", "--no-env")
        self.assertEqual(r.returncode, 1)
        self.assertIn('unknown event "SESSION:NOTE_INSERTED"', r.stderr)
        self.assertIn('did you mean "prune"', r.stderr)
        self.assertNotIn("not set", r.stderr)
        # a literal secret is still refused
        self.write_config(FULL_OF_VARS.replace("${WEST_SECRET}", "hunter2"))
        r = self.run_bare("validate", "--no-env")
        self.assertEqual(r.returncode, 1)
        self.assertIn(":11:17: api_secret must come from ${VAR}", r.stderr)

    def test_no_env_checks_a_value_when_it_is_known(self):
        self.write_config(FULL_OF_VARS)
        r = self.run_bare("validate", "--no-env", env={"WEST_HOOK_URL": "ftp://x.example.com/"})
        self.assertEqual(r.returncode, 1)
        self.assertIn(self.config + ":15:14: invalid URL for \"url\"", r.stderr)
        self.assertNotIn("ftp://x.example.com", r.stderr)  # from the environment: sensitive
        r = self.run_bare("validate", "--no-env", env={"PAVE_URL": "http://pave.example.com"})
        self.assertEqual(r.returncode, 1)
        self.assertIn(self.config + ":2:10: \"api_url\" must use https", r.stderr)
        r = self.run_bare("validate", "--no-env", env={"HOOK_METHOD": "FETCH"})
        self.assertEqual(r.returncode, 1)
        self.assertIn(":5:11: unsupported method", r.stderr)

    def test_plain_http_api_url_has_its_place_in_every_command(self):
        cfg = open(self.config).read()
        self.write_config("version: 1\napi_url: http://pave.example.com\n" +
                          cfg.split("\n", 1)[1])
        want = self.config + ':2:10: "api_url" must use https (plain http is only allowed ' \
                             'for loopback hosts: 127.0.0.0/8, ::1, localhost)'
        for cmd in (("validate",), ("validate", "--no-env"), ("plan",), ("apply",),
                    ("plan", "--refresh"), ("import",)):
            r = self.run_ps(*cmd, expect=1)
            self.assertIn(want, r.err, cmd)
            self.assertEqual(r.err.count("pave.example.com"), 0, r.err)
        self.assertEqual(self.emu.requests(), [])
        # a loopback host may use http
        self.write_config("version: 1\napi_url: http://localhost:1\n" + cfg.split("\n", 1)[1])
        self.run_ps("validate", expect=0)

    def test_plain_http_from_the_environment_names_its_source_once(self):
        r = self.run_ps("plan", "--refresh", env={"PAVE_API_URL": "http://pave.example.com"},
                        expect=1)
        self.assertEqual(r.err.count("http://pave.example.com"), 1, r.err)
        self.assertIn("(from PAVE_API_URL)", r.err)
        self.assertEqual(self.emu.requests(), [])


if __name__ == "__main__":
    main()
