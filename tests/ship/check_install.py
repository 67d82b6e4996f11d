"""`meson install --destdir` into a temporary directory installs exactly the
shipped files; the man pages render with groff without a warning; the bash
completion, sourced from its installed place, completes commands, options,
option values and account names; the zsh and fish completions parse.

usage: check_install.py MESON BUILDDIR PREFIX BINDIR DATADIR MANDIR
"""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

MESON, BUILD, PREFIX, BINDIR, DATADIR, MANDIR = sys.argv[1:7]
del sys.argv[1:7]


def rel(*parts):
    p = os.path.join(*parts)
    return p if os.path.isabs(p) else os.path.join(PREFIX, p)


EXPECTED = {
    rel(BINDIR, "pavesync"),
    rel(MANDIR, "man1", "pavesync.1"),
    rel(MANDIR, "man5", "pavesync.yaml.5"),
    rel(DATADIR, "bash-completion", "completions", "pavesync"),
    rel(DATADIR, "zsh", "vendor-completions", "_pavesync"),
    rel(DATADIR, "fish", "vendor_completions.d", "pavesync.fish"),
    rel(DATADIR, "pavesync", "pavesync.schema.json"),
    rel(DATADIR, "pavesync", "output.schema.json"),
} | {rel(DATADIR, "doc", "pavesync", "examples", f) for f in (
    "crontab", "pavesync.service", "pavesync.timer", "pavesync.yaml",
    "pavesync.env")}

CONFIG = """\
version: 1
accounts:
  downtown:
    api_key: ${K}
    api_secret: ${S}
    username: u
    callbacks:
      SESSION:COMPLETE:
        url: https://hooks.example.com/x
  airport-2:   # a comment
    api_key: ${K}
    api_secret: ${S}
    username: u
    callbacks: {}
defaults:
  method: POST
"""


class InstallTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="pavesync-install-")
        cls.dest = os.path.join(cls.tmp, "dest")
        env = dict(os.environ, DESTDIR=cls.dest)
        proc = subprocess.run([MESON, "install", "-C", BUILD, "--no-rebuild",
                               "--destdir", cls.dest, "--quiet"],
                              env=env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        cls.files = set()
        for d, _, files in os.walk(cls.dest):
            for f in files:
                cls.files.add("/" + os.path.relpath(os.path.join(d, f), cls.dest))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def path(self, p):
        return os.path.join(self.dest, p.lstrip("/"))

    def test_layout(self):
        self.assertEqual(sorted(self.files), sorted(EXPECTED))
        self.assertTrue(os.access(self.path(rel(BINDIR, "pavesync")), os.X_OK))

    def test_man_pages_render_without_warnings(self):
        for page in ("man1/pavesync.1", "man5/pavesync.yaml.5"):
            f = self.path(rel(MANDIR, page))
            proc = subprocess.run(["groff", "-man", "-ww", "-z", f],
                                  capture_output=True, text=True)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertEqual(proc.stderr, "", page)
            text = subprocess.run(["groff", "-man", "-Tutf8", "-P-cbou", f],
                                  capture_output=True, text=True).stdout
            self.assertTrue("SEE ALSO" in text, page)
            self.assertFalse("SPEC" in text, page)

    def complete(self, *words, cwd=None):
        """COMPREPLY of the installed bash completion for `words` (the last
        one is the word being completed)."""
        script = """
            [ -r /usr/share/bash-completion/bash_completion ] &&
                . /usr/share/bash-completion/bash_completion
            . "$COMPLETION"
            COMP_WORDS=("$@")
            COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
            COMP_LINE="${COMP_WORDS[*]}"
            COMP_POINT=${#COMP_LINE}
            _pavesync pavesync "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
            printf '%s\\n' "${COMPREPLY[@]}"
        """
        env = dict(os.environ,
                   PATH=os.path.dirname(self.path(rel(BINDIR, "pavesync"))) + ":" +
                   os.environ.get("PATH", "/usr/bin:/bin"),
                   COMPLETION=self.path(rel(DATADIR, "bash-completion", "completions",
                                            "pavesync")))
        env.pop("PAVESYNC_CONFIG", None)
        proc = subprocess.run(["bash", "-c", script, "bash"] + list(words),
                              env=env, cwd=cwd or self.tmp, capture_output=True,
                              text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return [w for w in proc.stdout.splitlines() if w]

    def test_bash_completion(self):
        self.assertEqual(self.complete("pavesync", "pl"), ["plan"])
        self.assertEqual(sorted(self.complete("pavesync", "")),
                         ["apply", "history", "import", "plan", "show", "validate"])
        self.assertEqual(self.complete("pavesync", "-q", "ap"), ["apply"])
        # Options of the command (and the global ones), not of others.
        opts = self.complete("pavesync", "apply", "--")
        for o in ("--refresh", "--yes", "--metrics-file", "--max-changes", "--config"):
            self.assertIn(o, opts)
        self.assertNotIn("--seed", opts)
        self.assertIn("--seed", self.complete("pavesync", "import", "--"))
        self.assertEqual(self.complete("pavesync", "plan", "--format", ""), ["text", "json"])
        self.assertEqual(sorted(self.complete("pavesync", "--color", "")),
                         ["always", "auto", "never"])
        self.assertEqual(self.complete("pavesync", "apply", "--on-drift", "f"), ["fail"])
        # Account names from the config named by -c, else ./pavesync.yaml.
        cfgdir = os.path.join(self.tmp, "cfg")
        os.makedirs(cfgdir, exist_ok=True)
        with open(os.path.join(cfgdir, "pavesync.yaml"), "w") as f:
            f.write(CONFIG)
        self.assertEqual(sorted(self.complete("pavesync", "plan", "-a", "", cwd=cfgdir)),
                         ["airport-2", "downtown"])
        self.assertEqual(self.complete("pavesync", "-c", os.path.join(cfgdir, "pavesync.yaml"),
                                       "plan", "--account", "d"), ["downtown"])

    def test_zsh_and_fish_completions_parse(self):
        for shell, f in (("zsh", rel(DATADIR, "zsh", "vendor-completions", "_pavesync")),
                         ("fish", rel(DATADIR, "fish", "vendor_completions.d",
                                      "pavesync.fish"))):
            proc = subprocess.run([shell, "-n", self.path(f)], capture_output=True, text=True)
            self.assertEqual(proc.returncode, 0, shell + ": " + proc.stderr)

    def test_fish_completion_offers_commands(self):
        env = dict(os.environ, PATH=os.path.dirname(self.path(rel(BINDIR, "pavesync"))) +
                   ":" + os.environ.get("PATH", "/usr/bin:/bin"))
        f = self.path(rel(DATADIR, "fish", "vendor_completions.d", "pavesync.fish"))
        proc = subprocess.run(["fish", "--no-config", "-c",
                               "source %s; complete -C 'pavesync pl'" % f],
                              env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual([l.split("\t")[0] for l in proc.stdout.splitlines()], ["plan"])


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(1 if result.failures or result.errors or not result.testsRun else 0)
