"""--push over ssh as an unattended job has it: a key file in ~/.ssh, no agent.

A real sshd (Debian's openssh-server) runs on a free 127.0.0.1 port with its
own host key, config and authorized_keys. OpenSSH finds ~/.ssh through the
password database, not $HOME, so each pavesync run happens in a private
mount namespace where the test's home directory is mounted over the
account's own home (nothing outside the namespace changes). That needs
root, as sshd itself does; CI runs as root.
"""

import os
import pwd
import shutil
import socket
import subprocess
import time

from harness import BIN, PavesyncTest, Result, main

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SshTest(PavesyncTest):

    def setUp(self):
        super().setUp()
        self.assertEqual(os.geteuid(), 0, "these tests start sshd and a mount namespace: run them as root")
        self.user = pwd.getpwuid(os.getuid())
        self.srv = os.path.join(self.tmp, "sshd")
        os.makedirs(self.srv)
        self.ssh_dir = os.path.join(self.home, ".ssh")
        os.makedirs(self.ssh_dir, mode=0o700)
        # sshd's privilege separation directory (a package install makes it
        # at boot through tmpfiles.d; a fresh container may not have it)
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        for name in ("host_key", "other_host_key"):
            self.keygen(os.path.join(self.srv, name))
        self.keygen(os.path.join(self.ssh_dir, "id_ed25519"))
        shutil.copy(os.path.join(self.ssh_dir, "id_ed25519.pub"), os.path.join(self.srv, "authorized_keys"))
        self.port = free_port()
        self.sshd = None
        self.addCleanup(self.stop_sshd)
        self.start_sshd("host_key")
        with open(os.path.join(self.ssh_dir, "config"), "w") as f:
            f.write("Host gitserver\n  HostName 127.0.0.1\n  Port %d\n  User %s\n"
                    % (self.port, self.user.pw_name))
        self.trust("host_key")
        self.remote = os.path.join(self.tmp, "remote.git")
        subprocess.run(["git", "init", "-q", "--bare", self.remote], check=True, env=self.env)
        subprocess.run(["git", "init", "-q", "--bare", self.state], check=True, env=self.env)
        self.set_url("gitserver:" + self.remote)
        self.env.pop("SSH_AUTH_SOCK", None)

    def keygen(self, path, passphrase=""):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", "test", "-f", path],
                       check=True, stdin=subprocess.DEVNULL)

    def start_sshd(self, host_key):
        cfg = os.path.join(self.srv, "sshd_config")
        with open(cfg, "w") as f:
            f.write("\n".join([
                "Port %d" % self.port, "ListenAddress 127.0.0.1",
                "HostKey %s" % os.path.join(self.srv, host_key),
                "AuthorizedKeysFile %s" % os.path.join(self.srv, "authorized_keys"),
                "PasswordAuthentication no", "KbdInteractiveAuthentication no",
                "PubkeyAuthentication yes", "PermitRootLogin prohibit-password",
                "UsePAM no", "StrictModes no",
                "PidFile %s" % os.path.join(self.srv, "sshd.pid"),
                "LogLevel VERBOSE", ""]))
        self.sshd_log = open(os.path.join(self.srv, "sshd.log"), "ab")
        self.sshd = subprocess.Popen([SSHD, "-D", "-e", "-f", cfg], stdout=self.sshd_log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.time() + 30
        while True:
            self.assertIsNone(self.sshd.poll(), "sshd exited: %s" % self.log())
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                self.assertLess(time.time(), deadline, "sshd did not listen")
                time.sleep(0.05)

    def stop_sshd(self):
        if getattr(self, "sshd", None):
            self.sshd.terminate()
            self.sshd.wait(timeout=30)
            self.sshd = None
            self.sshd_log.close()

    def log(self):
        with open(os.path.join(self.srv, "sshd.log"), "rb") as f:
            return f.read().decode("utf-8", "replace")

    def trust(self, host_key):
        with open(os.path.join(self.srv, host_key + ".pub")) as f:
            kind, blob = f.read().split()[:2]
        with open(os.path.join(self.ssh_dir, "known_hosts"), "w") as f:
            f.write("[127.0.0.1]:%d %s %s\n" % (self.port, kind, blob))

    def set_url(self, url, repo=None):
        repo = repo or self.state
        subprocess.run(["git", "--git-dir", repo, "remote", "remove", "origin"],
                       env=self.env, capture_output=True)
        subprocess.run(["git", "--git-dir", repo, "remote", "add", "origin", url],
                       check=True, env=self.env)

    def run_as_user(self, *args, env=None, expect=None, state=None, timeout=120):
        """pavesync with ~ (as ssh sees it) being the test's home."""
        state = state or self.state
        cmd = ["unshare", "--mount", "--propagation", "private", "--",
               "sh", "-c", 'mount --bind "$1" "$2" && shift 2 && exec "$@"', "sh",
               self.home, self.user.pw_dir, BIN, "-c", self.config, "--state-repo", state] + list(args)
        e = dict(self.env)
        e.update(env or {})
        p = subprocess.run(cmd, env=e, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        r = Result(p)
        if expect is not None:
            self.assertEqual(r.rc, expect, "%r\n--- sshd log\n%s" % (r, self.log()))
        self.assert_no_secret(r.out + r.err, "output")
        return r

    def remote_tip(self):
        p = subprocess.run(["git", "--git-dir", self.remote, "rev-parse", "--verify", "-q",
                            "refs/heads/pavesync-state"], capture_output=True, text=True, env=self.env)
        return p.stdout.strip()

    def test_push_with_a_key_file_and_no_agent(self):
        self.assertNotIn("SSH_AUTH_SOCK", self.env)
        r = self.run_as_user("apply", "--push", expect=0)
        self.assertIn("3 created", r.out)
        self.assertEqual(self.remote_tip(), self.git("rev-parse", "pavesync-state").strip())
        self.assertIn("Accepted publickey", self.log())
        # a second host starts from what the first pushed: no API call
        other = os.path.join(self.tmp, "other")
        subprocess.run(["git", "init", "-q", "--bare", other], check=True, env=self.env)
        self.set_url("gitserver:" + self.remote, repo=other)
        self.emu.clear_requests()
        self.run_as_user("apply", "--push", state=other, expect=0)
        self.assertEqual(self.emu.requests(), [])

    def test_changed_host_key_is_refused_before_any_api_call(self):
        self.run_as_user("apply", "--push", expect=0)
        pushed = self.remote_tip()
        # the server now shows another key than the one recorded
        self.stop_sshd()
        self.start_sshd("other_host_key")
        self.write_config(open(self.config).read().replace("pave/stage", "pave/stage2"))
        self.emu.clear_requests()
        r = self.run_as_user("apply", "--push", expect=1)
        self.assertIn("host key has CHANGED", r.err)
        self.assertIn("known_hosts", r.err)
        self.assertEqual(self.emu.requests(), [])
        self.assertEqual(self.remote_tip(), pushed)
        self.assertEqual(len(self.commits()), 1)

    def test_unknown_host_key_is_refused_not_asked(self):
        os.unlink(os.path.join(self.ssh_dir, "known_hosts"))
        r = self.run_as_user("apply", "--push", expect=1, timeout=60)
        self.assertIn("is not in ~/.ssh/known_hosts", r.err)
        self.assertEqual(self.emu.requests(), [])
        self.assertEqual(self.remote_tip(), "")
        # ssh asked nobody, and recorded nothing
        self.assertFalse(os.path.exists(os.path.join(self.ssh_dir, "known_hosts")))

    def test_passphrase_key_without_agent_fails_without_prompting(self):
        for f in ("id_ed25519", "id_ed25519.pub"):
            os.unlink(os.path.join(self.ssh_dir, f))
        self.keygen(os.path.join(self.ssh_dir, "id_ed25519"), passphrase="correct horse")
        shutil.copy(os.path.join(self.ssh_dir, "id_ed25519.pub"), os.path.join(self.srv, "authorized_keys"))
        r = self.run_as_user("apply", "--push", expect=1, timeout=60)
        self.assertIn("never prompts", r.err)
        self.assertIn("Permission denied", r.err)
        self.assertEqual(self.emu.requests(), [])

    def test_git_ssh_command_is_honoured(self):
        # no ~/.ssh/config: everything comes from the user's ssh command
        os.unlink(os.path.join(self.ssh_dir, "config"))
        self.set_url("ssh://%s@127.0.0.1:%d%s" % (self.user.pw_name, self.port, self.remote))
        kh = os.path.join(self.tmp, "pinned_hosts")
        shutil.move(os.path.join(self.ssh_dir, "known_hosts"), kh)
        key = os.path.join(self.tmp, "deploy_key")
        shutil.move(os.path.join(self.ssh_dir, "id_ed25519"), key)
        ssh = "ssh -o BatchMode=yes -o UserKnownHostsFile=%s -i %s" % (kh, key)
        self.run_as_user("apply", "--push", env={"GIT_SSH_COMMAND": ssh}, expect=0)
        self.assertNotEqual(self.remote_tip(), "")
        # the same through core.sshCommand in the repository's config
        self.write_config(open(self.config).read().replace("pave/stage", "pave/stage2"))
        self.git("config", "core.sshCommand", ssh)
        self.run_as_user("apply", "--push", expect=0)
        self.assertEqual(self.remote_tip(), self.git("rev-parse", "pavesync-state").strip())


if __name__ == "__main__":
    main()
