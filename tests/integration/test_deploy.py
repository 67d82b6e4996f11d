"""The deployment examples, run as cron and systemd run them.

examples/crontab's job line runs as cron runs it: `sh -c COMMAND` under
`env -i` with cron's environment (HOME and LOGNAME of the job's user,
SHELL=/bin/sh, PATH=/usr/bin:/bin, then the crontab's own assignments), as
an unprivileged user (nobody stands in for pavesync) that owns the config
repository and reads the env file through its group (root:GROUP, 0640), as
the README's layout says. The only edits are the layout's absolute paths,
moved under a temporary directory. The units are checked with
systemd-analyze verify (ExecStart pointed at the built binary, which is not
in /usr/local/bin here) and their commands run the same way.
"""

import grp
import os
import pwd
import re
import shlex
import shutil
import subprocess

from harness import BIN, MAIN, PavesyncTest, main, ROOT

NOBODY = 65534
EXAMPLES = os.path.join(ROOT, "examples")

CONFIG = """\
version: 1
callbacks:
  SESSION:COMPLETE:
    url: https://hooks.example.com/pave/complete
  SESSION:STAGE_CHANGE:
    url: https://hooks.example.com/pave/stage
"""


def read(name):
    with open(os.path.join(EXAMPLES, name)) as f:
        return f.read()


def parse_crontab(text):
    """(assignments, [(schedule, user, command)]) of an /etc/cron.d file."""
    env, jobs = {}, []
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$", s)
        if m:
            env[m.group(1)] = m.group(2)
            continue
        f = s.split(None, 6)
        jobs.append((" ".join(f[:5]), f[5], f[6]))
    return env, jobs


def unit_values(text, key):
    return [line.split("=", 1)[1] for line in text.splitlines() if line.startswith(key + "=")]


class DeployTest(PavesyncTest):

    def setUp(self):
        super().setUp()
        self.assertEqual(os.geteuid(), 0, "these tests run the job as another user: run them as root")
        os.chmod(self.tmp, 0o755)
        self.user = pwd.getpwuid(NOBODY).pw_name
        self.group = grp.getgrgid(NOBODY).gr_name
        self.genv = dict(self.env, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com",
                         GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com")
        # the real remote of the config repository (and of the snapshot)
        self.origin = os.path.join(self.tmp, "origin.git")
        self.sh("git", "init", "-q", "--bare", "-b", "main", self.origin)
        self.author = os.path.join(self.tmp, "author")
        self.sh("git", "clone", "-q", self.origin, self.author)
        # the remote belongs to its own user, as on a git server (see
        # commit_config); the test's own (root) git commands trust it
        # (their HOME is the test's)
        with open(os.path.join(self.home, ".gitconfig"), "a") as f:
            f.write("[safe]\n\tdirectory = *\n")
        self.commit_config(CONFIG)
        # the layout, under tmp
        self.root = os.path.join(self.tmp, "root")
        self.path_map = {}
        for p in ("/usr/local/bin", "/etc/pavesync", "/srv", "/var/lib/pavesync"):
            os.makedirs(self.root + p)
            self.path_map[p] = self.root + p
        # a copy: nobody may not reach the build tree (CI's checkout may
        # sit in a private directory)
        self.bin = self.root + "/usr/local/bin/pavesync"
        shutil.copy(BIN, self.bin)
        os.chmod(self.bin, 0o755)
        self.supp = os.path.join(self.tmp, "lsan.supp")
        shutil.copy(os.path.join(ROOT, "tests", "lsan.supp"), self.supp)
        os.chmod(self.supp, 0o644)
        self.job_home = self.root + "/var/lib/pavesync"
        self.repo = self.root + "/srv/pave-hooks"
        self.sh("git", "clone", "-q", self.origin, self.repo)
        for d in (self.job_home, self.repo):
            subprocess.run(["chown", "-R", "%d:%d" % (NOBODY, NOBODY), d], check=True)
        envfile = self.root + "/etc/pavesync/env"
        text = read("pavesync.env")
        text = text.replace("replace-with-the-api-key", MAIN[0])
        text = text.replace("replace-with-the-api-secret", MAIN[1])
        text = text.replace("replace-with-the-username", MAIN[2])
        # this machine's API is the emulator
        text += "PAVE_API_URL=%s\n" % self.emu.url
        with open(envfile, "w") as f:
            f.write(text)
        os.chown(envfile, 0, NOBODY)
        os.chmod(envfile, 0o640)
        self.env_keys = ["PAVE_API_KEY", "PAVE_API_SECRET", "PAVE_USERNAME", "PAVE_API_URL"]

    def sh(self, *cmd, cwd=None):
        p = subprocess.run(list(cmd), env=self.genv, cwd=cwd, capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, "%s: %s" % (cmd, p.stderr))
        return p.stdout

    def commit_config(self, text, msg="callbacks"):
        with open(os.path.join(self.author, "pavesync.yaml"), "w") as f:
            f.write(text)
        self.sh("git", "-C", self.author, "add", "pavesync.yaml")
        self.sh("git", "-C", self.author, "commit", "-q", "-m", msg)
        self.sh("git", "-C", self.author, "push", "-q", "origin", "HEAD:main")
        # this push ran as root: on a git server every push runs as the
        # repository's user. Without this, the object directories root's
        # push created (objects/xx/) refuse the job's own push when one of
        # its objects lands in the same directory: "unable to migrate
        # objects to permanent storage", an intermittent failure.
        subprocess.run(["chown", "-R", "%d:%d" % (NOBODY, NOBODY), self.origin], check=True)

    def relocate(self, text):
        for p in sorted(self.path_map, key=len, reverse=True):
            text = text.replace(p, self.path_map[p])
        return text

    def sanitizer_env(self):
        env = {k: v for k, v in os.environ.items() if k.endswith("SAN_OPTIONS")}
        if "LSAN_OPTIONS" in env:
            env["LSAN_OPTIONS"] = "suppressions=" + self.supp
        return env

    def as_job_user(self, env, argv):
        # setpriv switches users first; then env -i leaves exactly `env`
        cmd = ["env", "-i", "PATH=/usr/bin:/bin", "setpriv", "--reuid=%d" % NOBODY,
               "--regid=%d" % NOBODY, "--clear-groups", "--", "env", "-i"] + \
              ["%s=%s" % kv for kv in env.items()] + argv
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
        self.assert_no_secret(p.stdout + p.stderr, "the job's output")
        return p

    def cron_job(self):
        env, jobs = parse_crontab(read("crontab"))
        self.assertEqual(len(jobs), 1)
        schedule, user, command = jobs[0]
        self.assertEqual((schedule, user), ("*/5 * * * *", "pavesync"))
        # cron's own environment for the job, then the crontab's lines
        cron_env = {"HOME": self.job_home, "LOGNAME": self.user, "PATH": "/usr/bin:/bin", "SHELL": "/bin/sh"}
        cron_env.update({k: self.relocate(v) for k, v in env.items()})
        cron_env.update(self.sanitizer_env())
        return cron_env, self.relocate(command)

    def run_cron(self):
        cron_env, command = self.cron_job()
        return self.as_job_user(cron_env, [cron_env["SHELL"], "-c", command])

    def remote_state(self):
        p = subprocess.run(["git", "--git-dir", self.origin, "rev-parse", "-q", "--verify",
                            "refs/heads/pavesync-state"], capture_output=True, text=True, env=self.genv)
        return p.stdout.strip()

    def test_crontab_job_runs_verbatim_and_is_silent_without_news(self):
        p = self.run_cron()
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(p.stderr, "")
        self.assertRegex(p.stdout, r"^pavesync: 2 created, 0 updated, 0 deleted, 0 failed \(snapshot [0-9a-f]{12}\)\n$")
        self.assertEqual(sorted(self.emu.callbacks(MAIN[0])), ["SESSION:COMPLETE", "SESSION:STAGE_CHANGE"])
        self.assertNotEqual(self.remote_state(), "")
        # nothing new: not a byte, so cron mails nothing
        p = self.run_cron()
        self.assertEqual((p.returncode, p.stdout, p.stderr), (0, "", ""))
        # a change merged on the remote arrives through the job's git pull
        self.commit_config(CONFIG.replace("pave/complete", "pave/complete-v2"), "v2")
        p = self.run_cron()
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(p.stderr, "")
        self.assertEqual(len(p.stdout.splitlines()), 1)
        self.assertEqual(self.emu.callbacks(MAIN[0])["SESSION:COMPLETE"]["url"],
                         "https://hooks.example.com/pave/complete-v2")
        log = subprocess.run(["git", "--git-dir", self.origin, "log", "--format=%s", "pavesync-state"],
                             capture_output=True, text=True, env=self.genv).stdout.splitlines()
        self.assertEqual(len(log), 2)

    def test_crontab_layout_agrees_with_itself(self):
        env, _ = parse_crontab(read("crontab"))
        cron_env, command = self.cron_job()
        # PATH finds the binary where the units run it from
        self.assertIn("/usr/local/bin", env["PATH"].split(":"))
        self.assertIn("set -a", command)
        # without `set -a`, `. env` would not export: prove the test would see it
        bad = command.replace("set -a && ", "").replace(" && set +a", "")
        p = self.as_job_user(cron_env, ["/bin/sh", "-c", bad])
        self.assertNotEqual(p.returncode, 0)
        # the env file is KEY=value only, so EnvironmentFile= reads it too
        for line in read("pavesync.env").splitlines():
            if line and not line.startswith("#"):
                self.assertRegex(line, r"^[A-Z_]+=[^ \"']*$")

    def test_systemd_units_verify_and_run(self):
        analyze = shutil.which("systemd-analyze")
        self.assertIsNotNone(analyze, "systemd-analyze is missing (tests/install-deps.sh installs systemd)")
        service, timer = read("pavesync.service"), read("pavesync.timer")
        units = os.path.join(self.tmp, "units")
        os.makedirs(units)
        # the unit's binary path does not exist here: verify a copy that
        # runs the built binary, everything else as written
        self.assertEqual(unit_values(service, "ExecStart")[0].split()[0], "/usr/local/bin/pavesync")
        with open(os.path.join(units, "pavesync.service"), "w") as f:
            f.write(service.replace("/usr/local/bin/pavesync", self.bin))
        with open(os.path.join(units, "pavesync.timer"), "w") as f:
            f.write(timer)
        p = subprocess.run([analyze, "verify", os.path.join(units, "pavesync.timer"),
                            os.path.join(units, "pavesync.service")], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertNotIn("pavesync.", p.stdout + p.stderr)
        # Persistent= only works with OnCalendar= (systemd.timer(5))
        self.assertTrue(unit_values(timer, "OnCalendar"))
        self.assertEqual(unit_values(timer, "Persistent"), ["true"])
        self.assertEqual(unit_values(timer, "OnUnitActiveSec") + unit_values(timer, "OnBootSec"), [])
        # one layout with the crontab
        _, jobs = parse_crontab(read("crontab"))
        self.assertEqual(unit_values(service, "EnvironmentFile"), ["/etc/pavesync/env"])
        self.assertIn(". /etc/pavesync/env", jobs[0][2])
        self.assertEqual(unit_values(service, "WorkingDirectory"), ["/srv/pave-hooks"])
        self.assertEqual(unit_values(service, "User"), ["pavesync"])

        # run ExecStartPre and ExecStart as systemd would: EnvironmentFile's
        # variables, HOME/USER of the unit's user, no shell
        env = {"HOME": self.job_home, "USER": self.user, "LOGNAME": self.user,
               "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
        with open(self.root + "/etc/pavesync/env") as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#"):
                    k, v = line.split("=", 1)
                    env[k] = v
        env.update(self.sanitizer_env())
        pre = shlex.split(self.relocate(unit_values(service, "ExecStartPre")[0]))
        start = shlex.split(self.relocate(unit_values(service, "ExecStart")[0]))
        self.assertEqual(pre[1:], ["-C", self.repo, "pull", "-q", "--ff-only"])
        for _ in range(2):
            self.commit_config(CONFIG.replace("pave/stage", "pave/stage-%d" % _), "v%d" % _)
            for argv in (pre, start):
                p = subprocess.run(["env", "-i", "PATH=/usr/bin:/bin", "setpriv", "--reuid=%d" % NOBODY,
                                    "--regid=%d" % NOBODY, "--clear-groups", "--", "env", "-i"]
                                   + ["%s=%s" % kv for kv in env.items()] + argv,
                                   cwd=self.repo, capture_output=True, text=True, timeout=300)
                self.assert_no_secret(p.stdout + p.stderr, "the service's output")
                self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertEqual(self.emu.callbacks(MAIN[0])["SESSION:STAGE_CHANGE"]["url"],
                             "https://hooks.example.com/pave/stage-%d" % _)
        # a last run with nothing new says nothing
        p = subprocess.run(["env", "-i", "PATH=/usr/bin:/bin", "setpriv", "--reuid=%d" % NOBODY,
                            "--regid=%d" % NOBODY, "--clear-groups", "--", "env", "-i"]
                           + ["%s=%s" % kv for kv in env.items()] + start,
                           cwd=self.repo, capture_output=True, text=True, timeout=300)
        self.assertEqual((p.returncode, p.stdout, p.stderr), (0, "", ""))


if __name__ == "__main__":
    main()
