"""Runs that are interrupted or cannot record what they did (issue 9 #5,
#11): signals from outside to a real running apply, a commit that fails
after the API calls, a git lock on the state ref."""

import os
import signal
import socket
import ssl
import subprocess
import threading
import time

from harness import BIN, PavesyncTest, main

EV_C = "SESSION:COMPLETE"
EV_S = "SESSION:STAGE_CHANGE"
REF_LOCK = os.path.join("refs", "heads", "pavesync-state.lock")


class InterruptTest(PavesyncTest):

    def start_ps(self, *args):
        cmd = [BIN, "-c", self.config, "--state-repo", self.state] + list(args)
        return subprocess.Popen(cmd, env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True,
                                stdin=subprocess.DEVNULL)

    def wait_requests(self, n, timeout=60):
        """Wait until the emulator has received n /v1 requests."""
        end = time.time() + timeout
        while time.time() < end:
            if len(self.emu.requests()) >= n:
                return
            time.sleep(0.05)
        self.fail("the emulator never saw %d requests" % n)

    def finish(self, proc, timeout=120):
        out, err = proc.communicate(timeout=timeout)
        self.assert_no_secret(out + err, "output")
        return proc.returncode, out, err

    def writes(self):
        return [r for r in self.api_requests() if r[0] != "GET"]

    # -- exit 4: the API changed, the commit failed -----------------------

    def test_commit_failure_after_calls_is_its_own_status(self):
        self.run_ps("apply", expect=0)
        self.write_config(open(self.config).read().replace("pave/complete", "pave/c2"))
        self.emu.clear_requests()
        self.emu.add_fault(method="PUT", event=EV_C, delay_ms=1500)
        proc = self.start_ps("apply")
        self.wait_requests(1)
        # A git command takes the ref's lock while the call is in flight.
        lock = os.path.join(self.gitdir(), REF_LOCK)
        with open(lock, "w"):
            pass
        rc, out, err = self.finish(proc)
        self.assertEqual(rc, 4, out + err)
        self.assertIn("could not be committed", err)
        os.unlink(lock)
        # The next run repeats the call and converges.
        self.emu.clear_faults()
        self.emu.clear_requests()
        self.run_ps("apply", expect=0)
        self.assertEqual(self.api_requests(), [("PUT", EV_C)])
        self.emu.clear_requests()
        self.run_ps("apply", expect=0)
        self.assertEqual(self.api_requests(), [])

    def test_young_ref_lock_stops_before_any_call(self):
        self.run_ps("apply", expect=0)
        self.write_config(open(self.config).read().replace("pave/complete", "pave/c2"))
        lock = os.path.join(self.gitdir(), REF_LOCK)
        with open(lock, "w"):
            pass
        self.emu.clear_requests()
        r = self.run_ps("apply", expect=75)
        self.assertIn("a git command may be updating it", r.err)
        self.assertTrue(os.path.exists(lock))
        self.assertEqual(self.emu.requests(), [])
        # Old enough that no live writer holds it: removed, with a warning.
        old = time.time() - 11 * 60
        os.utime(lock, (old, old))
        r = self.run_ps("apply", expect=0)
        self.assertIn("removed a stale ref lock", r.err)
        self.assertFalse(os.path.exists(lock))
        self.assertEqual(self.api_requests(), [("PUT", EV_C)])

    # -- SIGTERM / SIGINT: stop gracefully --------------------------------

    def lock_file(self):
        return os.path.join(self.gitdir(), "pavesync.lock")

    def converge_and_count(self):
        """Run until nothing is left; the writes of all runs so far."""
        self.emu.config(delay_ms=0)
        self.emu.clear_faults()
        self.run_ps("apply", expect=0)
        writes = self.writes()
        self.emu.clear_requests()
        self.run_ps("apply", expect=0)
        self.assertEqual(self.emu.requests(), [])
        self.assert_repo_clean()
        return writes

    def test_sigterm_commits_what_succeeded(self):
        self.emu.config(delay_ms=1500)
        proc = self.start_ps("apply")
        self.wait_requests(2)  # both accounts have a create in flight
        proc.send_signal(signal.SIGTERM)
        rc, out, err = self.finish(proc)
        self.assertEqual(rc, 143, out + err)
        self.assertIn("stopped by SIGTERM", err)
        self.assertIn("not tried: interrupted", out)
        # The two calls in flight finished and are committed; the lock
        # is released.
        self.assertEqual(len(self.writes()), 2)
        self.assertEqual(self.commits()[0][1], "pavesync: 2 created, 0 updated, 0 deleted")
        self.assertFalse(os.path.exists(self.lock_file()))
        # The next run sends only what was left: 3 writes in all.
        self.assertEqual(len(self.converge_and_count()), 3)

    def test_sigint_before_the_next_call(self):
        self.emu.config(delay_ms=1000)
        proc = self.start_ps("apply", "--concurrency", "1")
        self.wait_requests(1)
        proc.send_signal(signal.SIGINT)
        rc, out, err = self.finish(proc)
        self.assertEqual(rc, 130, out + err)
        self.assertEqual(len(self.writes()), 1)
        self.assertEqual(self.commits()[0][1], "pavesync: 1 created, 0 updated, 0 deleted")
        self.assertFalse(os.path.exists(self.lock_file()))
        self.assertEqual(len(self.converge_and_count()), 3)

    def test_call_in_flight_is_bounded(self):
        # A reply that takes far longer than the grace period.
        self.emu.add_fault(method="POST", delay_ms=40000, times=1)
        proc = self.start_ps("apply", "--concurrency", "1")
        self.wait_requests(1)
        start = time.time()
        proc.send_signal(signal.SIGTERM)
        rc, out, err = self.finish(proc)
        self.assertEqual(rc, 143, out + err)
        self.assertLess(time.time() - start, 30)  # grace is 10 s
        self.assertFalse(os.path.exists(self.lock_file()))
        self.assertIn("not confirmed", out + err)
        self.converge_and_count()

    def test_second_signal_ends_at_once(self):
        self.emu.config(delay_ms=20000)
        proc = self.start_ps("apply")
        self.wait_requests(2)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        start = time.time()
        proc.send_signal(signal.SIGTERM)
        rc, out, err = self.finish(proc)
        self.assertEqual(rc, -signal.SIGTERM, out + err)
        self.assertLess(time.time() - start, 10)
        self.assertEqual(self.commits(), [])
        # As after kill -9: consistent, and the next run converges.
        r = self.run_ps("plan", expect=0)
        self.assertIn("3 to create", r.out)
        self.converge_and_count()

    # -- --deadline and local TLS errors ----------------------------------

    def silent_server(self, tls=None):
        """A server on 127.0.0.1 that accepts connections and never
        answers (or, with `tls`, fails the handshake). Returns (port,
        count of connections, stop)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        sock.settimeout(0.2)
        conns, count, done = [], [0], threading.Event()

        def serve():
            while not done.is_set():
                try:
                    c, _ = sock.accept()
                except (socket.timeout, OSError):
                    continue
                count[0] += 1
                if tls:
                    try:
                        c.settimeout(5)
                        tls.wrap_socket(c, server_side=True).close()
                    except (ssl.SSLError, OSError):
                        pass
                conns.append(c)
            for c in conns:
                c.close()
            sock.close()

        t = threading.Thread(target=serve, daemon=True)
        t.start()

        def stop():
            done.set()
            t.join(5)
        self.addCleanup(stop)
        return sock.getsockname()[1], count

    def test_deadline_ends_a_run_against_a_silent_server(self):
        port, count = self.silent_server()
        url = "http://127.0.0.1:%d" % port
        start = time.time()
        r = self.run_ps("apply", "--deadline", "3", "--api-url", url, expect=1)
        took = time.time() - start
        self.assertLess(took, 3 + 15, r)
        self.assertIn("deadline", r.out + r.err)
        self.assertIn("the run reached its deadline (--deadline 3)", r.err)
        self.assertGreaterEqual(count[0], 1)
        self.assertEqual(self.commits(), [])
        # plan --refresh is bounded the same way.
        start = time.time()
        r = self.run_ps("plan", "--refresh", "--deadline", "3", "--api-url", url)
        self.assertNotEqual(r.rc, 0)
        self.assertLess(time.time() - start, 3 + 15, r)

    def tls_context(self):
        d = os.path.join(self.tmp, "tls")
        os.makedirs(d)
        key, cert = os.path.join(d, "key.pem"), os.path.join(d, "cert.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", key, "-out", cert, "-days", "1",
                        "-subj", "/CN=localhost"], check=True, capture_output=True)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        return ctx

    def test_local_tls_errors_are_tried_once(self):
        self.write_config(open(self.config).read().split("  main:")[0])  # branch only
        port, count = self.silent_server(tls=self.tls_context())
        url = "https://localhost:%d" % port
        bad = os.path.join(self.tmp, "bad-ca.pem")
        with open(bad, "w") as f:
            f.write("not a certificate\n")
        for extra in (["--cacert", bad], []):  # unreadable CA; unverifiable peer
            count[0] = 0
            r = self.run_ps("apply", "--api-url", url, *extra, expect=1)
            self.assertIn("not retried", r.out + r.err)
            # pavesync has exited: every connection it made is queued, but
            # the accept thread may not have run yet on a busy machine.
            deadline = time.monotonic() + 10
            while count[0] < 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.5)  # a second, queued connection is accepted too
            self.assertEqual(count[0], 1, r)


if __name__ == "__main__":
    main()
