"""--metrics-file: Prometheus text exposition format, written atomically,
after a successful and after a failed run; the last success survives a
failed run."""

import os
import re
import stat

from harness import MAIN, PavesyncTest, main

EV_S = "SESSION:STAGE_CHANGE"

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABELS = r'\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*)?\}'
VALUE = r"(?:[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?Inf|NaN)"
SAMPLE = re.compile(r"^(%s)(%s)? (%s)(?: -?[0-9]+)?$" % (NAME, LABELS, VALUE))
HELP = re.compile(r"^# HELP (%s) .*$" % NAME)
TYPE = re.compile(r"^# TYPE (%s) (counter|gauge|histogram|summary|untyped)$" % NAME)


def parse(text):
    """Check every line against the text exposition format; return
    {(name, labels): value}. Families must be declared before their samples
    and appear once."""
    assert text.endswith("\n"), "no final newline"
    samples, typed, seen_families = {}, {}, []
    for n, line in enumerate(text.splitlines(), 1):
        m = HELP.match(line)
        if m:
            assert m.group(1) not in seen_families, "family %s twice" % m.group(1)
            seen_families.append(m.group(1))
            continue
        m = TYPE.match(line)
        if m:
            typed[m.group(1)] = m.group(2)
            continue
        m = SAMPLE.match(line)
        assert m, "line %d is not Prometheus text format: %r" % (n, line)
        assert m.group(1) in typed, "line %d: %s has no # TYPE before it" % (n, m.group(1))
        key = (m.group(1), m.group(2) or "")
        assert key not in samples, "line %d: duplicate sample %r" % (n, line)
        samples[key] = float(m.group(3))
    return samples


class MetricsTest(PavesyncTest):

    def setUp(self):
        super().setUp()
        self.metrics = os.path.join(self.tmp, "textfile", "pavesync.prom")
        os.makedirs(os.path.dirname(self.metrics))

    def read(self):
        with open(self.metrics) as f:
            return parse(f.read())

    def test_parser_rejects_bad_lines(self):
        for bad in ("x 1\n", "# TYPE x gauge\nx{a=b} 1\n", "# TYPE x gauge\nx 1 2 3\n",
                    "# TYPE x gauge\nx one\n", "# TYPE x gauge\nx 1"):
            with self.assertRaises(AssertionError):
                parse(bad)
        self.assertEqual(parse('# TYPE x gauge\nx{a="b\\"c"} 1.5\n'), {("x", '{a="b\\"c"}'): 1.5})

    def test_success_then_failure(self):
        self.run_ps("apply", "--metrics-file", self.metrics, expect=0)
        m = self.read()
        self.assertEqual(m[("pavesync_last_run_success", "")], 1)
        first = m[("pavesync_last_success_timestamp_seconds", "")]
        self.assertEqual(first, m[("pavesync_last_run_timestamp_seconds", "")])
        self.assertGreater(first, 1.6e9)
        self.assertGreaterEqual(m[("pavesync_run_duration_seconds", "")], 0)
        self.assertEqual(m[("pavesync_changes", '{account="main",action="create"}')], 2)
        self.assertEqual(m[("pavesync_changes", '{account="branch",action="create"}')], 1)
        self.assertEqual(m[("pavesync_changes", '{account="main",action="delete"}')], 0)
        self.assertEqual(m[("pavesync_drift", '{account="main",origin="config"}')], 2)
        self.assertEqual(m[("pavesync_failures", "")], 0)
        mode = stat.S_IMODE(os.stat(self.metrics).st_mode)
        self.assertEqual(mode, 0o644)

        # A failed run: the last success is kept, the run marked failed.
        self.write_config(self.config_text().replace("retries: 3", "retries: 4"))
        self.emu.add_fault(method="PUT", event=EV_S, status=400)
        self.run_ps("apply", "--metrics-file", self.metrics, expect=1)
        m = self.read()
        self.assertEqual(m[("pavesync_last_run_success", "")], 0)
        self.assertEqual(m[("pavesync_last_success_timestamp_seconds", "")], first)
        self.assertGreater(m[("pavesync_last_run_timestamp_seconds", "")], first)
        self.assertEqual(m[("pavesync_failures", "")], 1)
        self.assertEqual(m[("pavesync_changes", '{account="main",action="update"}')], 0)
        # Nothing but the file is left in its directory (no temporary files).
        self.assertEqual(os.listdir(os.path.dirname(self.metrics)), ["pavesync.prom"])

        # A run that fails before planning (a broken config) is a failure too.
        self.write_config("version: 1\naccounts: [\n")
        self.run_ps("plan", "--metrics-file", self.metrics, expect=1)
        m = self.read()
        self.assertEqual(m[("pavesync_last_run_success", "")], 0)
        self.assertEqual(m[("pavesync_last_success_timestamp_seconds", "")], first)
        self.assertEqual(m[("pavesync_failures", "")], 1)

    def test_plan_counts_planned_changes_and_drift(self):
        self.run_ps("apply", expect=0)
        live = self.emu.callbacks(MAIN[0])
        live[EV_S] = dict(live[EV_S], url="https://dashboard.example.com/x")
        self.emu.set_callbacks(MAIN[0], live)
        self.run_ps("plan", "--refresh", "--detailed-exitcode", "--metrics-file",
                    self.metrics, expect=2)
        m = self.read()
        self.assertEqual(m[("pavesync_last_run_success", "")], 1)
        self.assertEqual(m[("pavesync_changes", '{account="main",action="update"}')], 1)
        self.assertEqual(m[("pavesync_drift", '{account="main",origin="dashboard"}')], 1)
        self.assertEqual(m[("pavesync_drift", '{account="main",origin="config"}')], 0)

    def test_unwritable_metrics_file_is_a_warning(self):
        r = self.run_ps("plan", "--metrics-file", os.path.join(self.tmp, "nodir", "m.prom"),
                        expect=0)
        self.assertIn("cannot write the metrics file", r.err)

    def config_text(self):
        with open(self.config) as f:
            return f.read()


if __name__ == "__main__":
    main()
