"""The man page, --help and the option table agree, so a new option cannot
be forgotten in one of them: every option of cmd/main.c's table is listed in
the help of each command that takes it (or the global help, for a global
option) and described in pavesync(1); every environment variable and command
of --help is in pavesync(1); nothing a user reads mentions SPEC.

usage: check_docs.py PAVESYNC SOURCE_ROOT
"""

import os
import re
import subprocess
import sys
import unittest

BIN, ROOT = sys.argv[1:3]
del sys.argv[1:3]

MASKS = {"C_VALIDATE": ["validate"], "C_PLAN": ["plan"], "C_APPLY": ["apply"],
         "C_IMPORT": ["import"], "C_SHOW": ["show"], "C_HISTORY": ["history"]}
MASKS["C_NET"] = MASKS["C_PLAN"] + MASKS["C_APPLY"] + MASKS["C_IMPORT"]
MASKS["C_ALL"] = sum((MASKS[k] for k in ("C_VALIDATE", "C_PLAN", "C_APPLY", "C_IMPORT",
                                          "C_SHOW", "C_HISTORY")), [])


def read(*parts):
    with open(os.path.join(ROOT, *parts), encoding="utf-8") as f:
        return f.read()


def option_table():
    """[(long, short or None, [commands], global)] from cmd/main.c."""
    src = read("cmd", "main.c")
    table = src[src.index("static const struct option_spec options[]"):]
    table = table[:table.index("};")]
    rows = re.findall(r'\{\s*"([a-z][a-z0-9-]*)",\s*(\'.\'|0),\s*(?:true|false),\s*O_\w+,'
                      r'\s*([A-Z_| ]+?),\s*(true|false)\s*\}', table)
    out = []
    for name, short, mask, glob in rows:
        cmds = sorted({c for m in mask.split("|") for c in MASKS[m.strip()]})
        out.append((name, short[1] if short != "0" else None, cmds, glob == "true"))
    return out


def help_text(*args):
    proc = subprocess.run([BIN] + list(args) + ["--help"], capture_output=True, text=True,
                          env=dict(os.environ, NO_COLOR="1"))
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def listed(text):
    """Options on the help's option lines: "  -c, --config FILE ..."."""
    found = set()
    for line in text.splitlines():
        m = re.match(r"^ +(-[a-zA-Z], )?(--?[a-zA-Z][a-zA-Z0-9-]*)", line)
        if m:
            found.add(m.group(2))
            if m.group(1):
                found.add(m.group(1)[:2])
    return found


class DocsTest(unittest.TestCase):

    def test_table_parses(self):
        names = [o[0] for o in option_table()]
        self.assertGreater(len(names), 25)
        for n in ("config", "refresh", "yes", "metrics-file", "seed", "limit"):
            self.assertIn(n, names)

    def test_every_option_is_in_the_help_of_its_commands(self):
        global_help = listed(help_text())
        for name, short, cmds, glob in option_table():
            for cmd in cmds:
                shown = listed(help_text(cmd)) | (global_help if glob else set())
                self.assertIn("--" + name, shown, "pavesync %s --help" % cmd)
                if short:
                    self.assertIn("-" + short, shown, "pavesync %s --help" % cmd)

    def test_every_option_is_in_the_man_page(self):
        man = read("doc", "pavesync.1.scd")
        for name, short, _, _ in option_table():
            self.assertTrue(re.search(r"\*(-[a-zA-Z], )?--%s\*" % re.escape(name), man),
                            "--%s is not described in doc/pavesync.1.scd" % name)
            if short:
                self.assertTrue(re.search(r"\*-%s, --%s\*" % (short, re.escape(name)), man),
                                "-%s, --%s is not in doc/pavesync.1.scd" % (short, name))

    def test_commands_and_environment_are_in_the_man_page(self):
        man = read("doc", "pavesync.1.scd")
        text = help_text()
        env = text[text.index("environment:"):]
        env = env[:env.index("\n\n")]
        names = re.findall(r"\b([A-Z][A-Z0-9]*_[A-Z0-9_]+)\b", env)
        self.assertIn("PAVESYNC_CONFIG", names)
        for v in names:
            self.assertTrue("*%s*" % v in man, "%s is not in doc/pavesync.1.scd" % v)
        cmds = text[text.index("commands:"):]
        cmds = [l.split()[0] for l in cmds[:cmds.index("\n\n")].splitlines()[1:]]
        self.assertIn("plan", cmds)
        for c in cmds:
            self.assertTrue("*%s*\n\t" % c in man, "command %s is not in pavesync.1.scd" % c)

    def test_nothing_mentions_spec(self):
        for f in (("README.md",), ("doc", "pavesync.1.scd"), ("doc", "pavesync.yaml.5.scd")):
            self.assertFalse(re.search(r"\bSPEC\b", read(*f)), "/".join(f) + " mentions SPEC")
        for args in ((), ("validate",), ("plan",), ("apply",), ("import",), ("show",),
                     ("history",)):
            self.assertFalse(re.search(r"\bSPEC\b", help_text(*args)), " ".join(args))


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(1 if result.failures or result.errors or not result.testsRun else 0)
