"""schema/output.schema.json describes every --format json document: the real
outputs of plan, apply, show, history and validate, in the situations that
fill their optional parts (failures, drift, unmanaged, orphaned and stale
accounts, empty repositories), validate against it.

Runs with Debian's python3 and python3-jsonschema (Draft 2020-12)."""

import copy
import json
import os

import jsonschema

from harness import BRANCH, MAIN, ROOT, PavesyncTest, main

EV_C = "SESSION:COMPLETE"
EV_S = "SESSION:STAGE_CHANGE"
EV_N = "SESSION:NOTE_INSERT"

with open(os.path.join(ROOT, "schema", "output.schema.json")) as f:
    SCHEMA = json.load(f)
jsonschema.Draft202012Validator.check_schema(SCHEMA)


def validator(kind=None):
    """The whole schema, or one document kind ($defs/<kind>)."""
    s = copy.deepcopy(SCHEMA)
    if kind:
        s.pop("anyOf")
        s["$ref"] = "#/$defs/" + kind
    return jsonschema.Draft202012Validator(
        s, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


class OutputSchemaTest(PavesyncTest):

    def check(self, kind, r):
        """r's stdout is one JSON document of `kind`; returns it."""
        self.assertTrue(r.out.endswith("\n"), repr(r))
        doc = json.loads(r.out)
        for v in (validator(kind), validator()):
            errors = sorted(v.iter_errors(doc), key=lambda e: list(e.path))
            self.assertEqual(
                [], ["%s: %s" % ("/".join(map(str, e.path)), e.message) for e in errors],
                "%s output does not match the schema:\n%s" % (kind, r.out))
        # Each kind matches its own definition only: the schema tells them apart.
        for other in ("plan", "show", "history", "validate"):
            if other != kind:
                self.assertFalse(validator(other).is_valid(doc), other)
        return doc

    def test_the_schema_rejects_what_it_should(self):
        # The test would be worthless with a schema that accepts anything.
        v = validator("plan")
        good = {"format": 1, "status": "ok", "summary": {"create": 0, "update": 0, "delete": 0,
                                         "unchanged": 0},
                "accounts": [], "commit": None, "refused": []}
        self.assertTrue(v.is_valid(good))
        for bad in ({**good, "extra": 1}, {**good, "commit": "abc"},
                    {**good, "format": 2}, {**good, "status": "fine"},
                    {k: good[k] for k in ("format", "summary")}):
            self.assertFalse(v.is_valid(bad), bad)
        field = validator("field")
        self.assertTrue(field.is_valid({"path": "url", "before": "a", "after": "b"}))
        self.assertTrue(field.is_valid({"path": "headers.x", "sensitive": True}))
        self.assertFalse(field.is_valid({"path": "headers.x", "sensitive": True,
                                         "after": "clear"}))
        self.assertFalse(field.is_valid({"path": "url"}))

    def test_validate(self):
        self.check("validate", self.run_ps("validate", "--format", "json",
                                           expect=0, state=False))
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
        doc = self.check("validate", self.run_ps("validate", "--format", "json",
                                                 expect=1, state=False))
        self.assertFalse(doc["valid"])
        self.assertGreaterEqual(len(doc["errors"]), 2)

    def test_empty_repository(self):
        doc = self.check("plan", self.run_ps("plan", "--format", "json", expect=0))
        self.assertEqual(doc["summary"]["create"], 3)
        self.assertIsNone(doc["commit"])
        os.makedirs(self.state)
        self.git("init", "-q", "--bare", self.state)
        doc = self.check("show", self.run_ps("show", "--format", "json", expect=0))
        self.assertIsNone(doc["commit"])
        doc = self.check("history", self.run_ps("history", "--format", "json", expect=0))
        self.assertEqual(doc, [])

    def test_apply_show_history(self):
        doc = self.check("plan", self.run_ps("apply", "--format", "json", expect=0))
        self.assertEqual(len(doc["commit"]), 40)
        self.assertTrue(all(c["status"] == "ok"
                            for a in doc["accounts"] for c in a["changes"]))
        # Nothing to do: no commit.
        doc = self.check("plan", self.run_ps("apply", "--format", "json", expect=0))
        self.assertIsNone(doc["commit"])
        doc = self.check("plan", self.run_ps("plan", "--format", "json",
                                             "--detailed-exitcode", expect=0))
        self.assertEqual(doc["summary"]["unchanged"], 3)
        doc = self.check("show", self.run_ps("show", "--format", "json", expect=0))
        self.assertEqual(sorted(doc["accounts"]), ["branch", "main"])
        self.check("show", self.run_ps("show", "-a", "main", "--format", "json", expect=0))
        doc = self.check("history", self.run_ps("history", "--format", "json", expect=0))
        self.assertEqual(len(doc), 1)

    def test_failed_and_refused_changes(self):
        self.emu.add_fault(method="POST", event=EV_S, status=400)
        doc = self.check("plan", self.run_ps("apply", "--format", "json", expect=3))
        failed = [c for a in doc["accounts"] for c in a["changes"] if c["status"] == "failed"]
        self.assertEqual([c["event"] for c in failed], [EV_S])
        self.assertIsInstance(failed[0]["error"], str)
        self.emu.clear_faults()
        # A guard refuses: the plan is still printed as JSON.
        doc = self.check("plan", self.run_ps("apply", "--format", "json",
                                             "--max-changes", "0", expect=1))
        self.assertEqual(doc["summary"]["create"], 1)
        self.assertEqual(len(doc["refused"]), 1)
        # plan shows the same refusal, on the change too.
        doc = self.check("plan", self.run_ps("plan", "--format", "json",
                                             "--max-changes", "0", expect=0))
        self.assertEqual(len(doc["refused"]), 1)
        self.assertTrue(any(c["refused"] for a in doc["accounts"] for c in a["changes"])
                        or doc["refused"])

    def test_drift_unmanaged_orphaned_stale(self):
        self.run_ps("apply", expect=0)
        live = self.emu.callbacks(MAIN[0])
        live[EV_C] = dict(live[EV_C], url="https://dashboard.example.com/x")
        live[EV_N] = {"event": EV_N, "url": "https://other.example.com/n",
                      "method": "PUT", "headers": "{}", "payload": "{\"a\": 1}"}
        self.emu.set_callbacks(MAIN[0], live)
        doc = self.check("plan", self.run_ps("plan", "--refresh", "--format", "json",
                                             expect=0))
        main_acct = [a for a in doc["accounts"] if a["name"] == "main"][0]
        self.assertTrue(main_acct["refreshed"])
        self.assertEqual(main_acct["unmanaged"], [EV_N])
        self.assertEqual([c["origin"] for c in main_acct["changes"]], ["dashboard"])
        self.check("plan", self.run_ps("plan", "--refresh", "--prune", "--format",
                                       "json", expect=0))
        self.check("plan", self.run_ps("apply", "--refresh", "--on-drift", "fail",
                                       "--format", "json"))
        # The snapshot now records the dashboard edit apart from what was
        # applied.
        doc = self.check("show", self.run_ps("show", "--format", "json", expect=0))
        self.assertIn(EV_C, doc["accounts"]["main"]["live"])
        # An account left out of the config is orphaned; a new secret makes
        # the snapshot stale.
        self.write_config("""\
            version: 1
            accounts:
              main:
                api_key: ${MAIN_KEY}
                api_secret: ${OTHER_SECRET}
                username: ${MAIN_USER}
                callbacks:
                  SESSION:COMPLETE:
                    url: https://hooks.example.com/pave/complete
            """)
        r = self.run_ps("plan", "--format", "json", env={"OTHER_SECRET": "another-one"},
                        expect=0)
        doc = self.check("plan", r)
        by_name = {a["name"]: a for a in doc["accounts"]}
        self.assertTrue(by_name["branch"]["orphaned"])
        self.assertTrue(by_name["main"]["stale"])
        # A bad credential: the account's error is reported.
        r = self.run_ps("plan", "--refresh", "--format", "json",
                        env={"OTHER_SECRET": "wrong"})
        self.assertNotEqual(r.rc, 0)
        doc = self.check("plan", r)
        self.assertIsInstance({a["name"]: a for a in doc["accounts"]}["main"]["error"], str)


if __name__ == "__main__":
    main()
