"""Every value the server sends is sealed, whatever its shape (issue 9 #1).

Servers echo and list `headers`/`payload` as strings (a Python repr, an
HTTP header line, a form string). None of it may reach a git object in
clear: the whole repository is scanned for each secret after each run.
"""

from harness import HOOK_TOKEN, MAIN, PavesyncTest, main

EV_C = "SESSION:COMPLETE"
EV_S = "SESSION:STAGE_CHANGE"

LIVE_TOKEN = "live-token-GRUE"
PAYLOAD_SECRET = "payload-secret-ZORKMID"


class ServerValuesTest(PavesyncTest):

    extra_secrets = [LIVE_TOKEN, PAYLOAD_SECRET]

    def test_echo_headers_as_python_repr_never_stored(self):
        self.emu.add_fault(method="POST", event=EV_C, api_key=MAIN[0], echo={
            "headers": "{'Authorization': 'Bearer %s'}" % HOOK_TOKEN})
        r = self.run_ps("apply", expect=3)
        self.assertIn("differs from what was sent (headers)", r.out + r.err)
        snap = self.snapshot("main")
        # What the server said is recorded as last seen live, sealed whole.
        self.assertTrue(snap["live"][EV_C]["headers"].startswith(
            "(sensitive) hmac-sha256:"), snap)
        self.assert_repo_clean()
        # The next run sees the recorded difference and converges.
        self.emu.clear_faults()
        self.emu.clear_requests()
        self.run_ps("apply", expect=0)
        self.assertEqual(self.api_requests(), [("PUT", EV_C)])
        self.emu.clear_requests()
        self.run_ps("apply", expect=0)
        self.assertEqual(self.api_requests(), [])
        self.assert_repo_clean()

    def test_echo_payload_string_never_stored(self):
        self.run_ps("apply", expect=0)
        self.write_config(open(self.config).read().replace("retries: 3", "retries: 5"))
        self.emu.add_fault(method="PUT", event=EV_S, echo={
            "payload": "source=PAVE&token=%s" % PAYLOAD_SECRET})
        self.run_ps("apply", expect=1)
        snap = self.snapshot("main")
        self.assertTrue(snap["live"][EV_S]["payload"].startswith(
            "(sensitive) hmac-sha256:"), snap)
        self.assert_repo_clean()
        r = self.run_ps("plan", "--format", "json", expect=0)
        fields = [f for a in r.json()["accounts"] for c in a["changes"]
                  for f in c["fields"]]
        self.assertIn({"path": "payload", "sensitive": True}, fields)

    def test_live_headers_as_header_line_never_stored(self):
        self.run_ps("apply", expect=0)
        # A dashboard edit stored the headers as one "Name: value" string.
        live = self.emu.callbacks(MAIN[0])
        live[EV_C]["headers"] = "Authorization: Bearer %s" % LIVE_TOKEN
        live[EV_S]["payload"] = "{'token': '%s'}" % PAYLOAD_SECRET
        self.emu.set_callbacks(MAIN[0], live)
        self.emu.clear_requests()
        r = self.run_ps("apply", "--refresh", expect=0)
        self.assertIn("refresh", self.commits()[1][1])
        self.assertEqual(sorted(self.api_requests()),
                         sorted([("GET", None), ("GET", None),
                                 ("PUT", EV_C), ("PUT", EV_S)]), r)
        self.assert_repo_clean()
        # Also the single GET that confirms an ambiguous create.
        self.emu.set_callbacks(MAIN[0], {})
        self.emu.add_fault(method="POST", event=EV_C, drop=True, apply=True, times=1)
        self.emu.add_fault(method="GET", event=EV_C, echo={
            "headers": "Authorization: Bearer %s" % LIVE_TOKEN})
        self.run_ps("apply", "--refresh", expect=3)
        self.assert_repo_clean()


if __name__ == "__main__":
    main()
