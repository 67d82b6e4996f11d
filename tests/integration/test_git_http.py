"""--push and --fetch over https-style remotes: git's credential helpers.

A small HTTP server in this process puts HTTP basic auth in front of
`git http-backend` (run as a CGI program, the way Apache or nginx would),
on a free 127.0.0.1 port. The token reaches git only through a credential
helper: `credential.helper store` (~/.git-credentials) or a helper that
reads a CI secret from the environment. Without one, pavesync fails at once
with a clear message; git is never left waiting for a person.
"""

import base64
import http.server
import os
import subprocess
import threading
import time

from harness import PavesyncTest, main

TOKEN = "ghp-token-XYZZY-0123456789"
USER = "pavesync-bot"


class GitHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        self.serve()

    def do_POST(self):
        self.serve()

    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def serve(self):
        srv = self.server
        auth = self.headers.get("Authorization", "")
        want = "Basic " + base64.b64encode(("%s:%s" % (USER, TOKEN)).encode()).decode()
        srv.seen.append((self.command, self.path, bool(auth), auth == want))
        body = self.body()
        if auth != want:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path, _, query = self.path.partition("?")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": srv.root, "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_CONFIG_NOSYSTEM": "1", "HOME": srv.root,
            "REQUEST_METHOD": self.command, "PATH_INFO": path, "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)), "REMOTE_USER": USER, "REMOTE_ADDR": "127.0.0.1",
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
        }
        p = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True)
        head, _, rest = p.stdout.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.decode("latin-1").split("\r\n"):
            k, _, v = line.partition(":")
            if k.lower() == "status":
                status = int(v.strip().split()[0])
            elif k:
                headers.append((k, v.strip()))
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(rest)))
        self.end_headers()
        self.wfile.write(rest)


class HttpTest(PavesyncTest):
    extra_secrets = [TOKEN]

    def setUp(self):
        super().setUp()
        self.root = os.path.join(self.tmp, "srv")
        os.makedirs(self.root)
        self.remote = os.path.join(self.root, "state.git")
        subprocess.run(["git", "init", "-q", "--bare", self.remote], check=True, env=self.env)
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), GitHandler)
        self.server.root = self.root
        self.server.seen = []
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.addCleanup(self.stop_server)
        self.url = "http://127.0.0.1:%d/state.git" % self.server.server_address[1]
        subprocess.run(["git", "init", "-q", "--bare", self.state], check=True, env=self.env)
        subprocess.run(["git", "--git-dir", self.state, "remote", "add", "origin", self.url],
                       check=True, env=self.env)

    def stop_server(self):
        self.server.shutdown()
        self.server.server_close()

    def store_credential(self, token=TOKEN):
        subprocess.run(["git", "config", "--global", "credential.helper", "store"], check=True, env=self.env)
        path = os.path.join(self.home, ".git-credentials")
        with open(path, "w") as f:
            f.write("http://%s:%s@127.0.0.1:%d\n" % (USER, token, self.server.server_address[1]))
        os.chmod(path, 0o600)

    def remote_tip(self):
        p = subprocess.run(["git", "--git-dir", self.remote, "rev-parse", "--verify", "-q",
                            "refs/heads/pavesync-state"], capture_output=True, text=True, env=self.env)
        return p.stdout.strip()

    def test_push_and_fetch_with_a_stored_token(self):
        self.store_credential()
        r = self.run_ps("apply", "--push", expect=0)
        self.assertIn("3 created", r.out)
        self.assertEqual(self.remote_tip(), self.git("rev-parse", "pavesync-state").strip())
        self.assertTrue(any(ok for _, _, _, ok in self.server.seen))
        # another host fetches over http: nothing to do, no API call
        other = os.path.join(self.tmp, "other")
        subprocess.run(["git", "init", "-q", "--bare", other], check=True, env=self.env)
        subprocess.run(["git", "--git-dir", other, "remote", "add", "origin", self.url],
                       check=True, env=self.env)
        self.emu.clear_requests()
        self.state = other
        self.run_ps("plan", "--fetch", "--detailed-exitcode", expect=0)
        self.run_ps("apply", "--push", expect=0)
        self.assertEqual(self.emu.requests(), [])
        self.assert_repo_clean()

    def test_token_from_a_ci_secret_through_a_helper(self):
        # the README's recipe: the token lives in an environment variable
        helper = '!f() { echo username=%s; echo "password=$STATE_PUSH_TOKEN"; }; f' % USER
        subprocess.run(["git", "--git-dir", self.state, "config", "credential.helper", helper],
                       check=True, env=self.env)
        self.run_ps("apply", "--push", env={"STATE_PUSH_TOKEN": TOKEN}, expect=0)
        self.assertNotEqual(self.remote_tip(), "")

    def test_missing_credential_is_a_clear_error_and_no_prompt(self):
        t0 = time.time()
        r = self.run_ps("apply", "--push", expect=1, timeout=60)
        self.assertLess(time.time() - t0, 55)
        self.assertIn("never prompts", r.err)
        self.assertIn("credential helper", r.err)
        self.assertIn("127.0.0.1", r.err)
        self.assertEqual(self.emu.requests(), [])
        self.assertEqual(self.remote_tip(), "")
        # only unauthenticated attempts reached the server
        self.assertFalse(any(auth for _, _, auth, _ in self.server.seen))

    def test_wrong_token_is_refused_and_never_printed(self):
        self.store_credential("wrong-token-PLUGH-42")
        self.extra_secrets = [TOKEN, "wrong-token-PLUGH-42"]
        r = self.run_ps("apply", "--push", expect=1, timeout=60)
        self.assertIn("refused", r.err)
        self.assertEqual(self.emu.requests(), [])

    def test_credentials_in_the_remote_url_never_reach_the_output(self):
        url = self.url.replace("http://", "http://%s:%s@" % (USER, "url-token-QUUX-77"))
        subprocess.run(["git", "--git-dir", self.state, "remote", "set-url", "origin", url],
                       check=True, env=self.env)
        self.extra_secrets = [TOKEN, "url-token-QUUX-77"]
        r = self.run_ps("apply", "--push", expect=1, timeout=60)
        self.assertIn("http://127.0.0.1:%d/state.git" % self.server.server_address[1], r.err)
        self.assertNotIn(USER, r.err)


if __name__ == "__main__":
    main()
