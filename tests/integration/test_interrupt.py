"""Runs that are interrupted or cannot record what they did (issue 9 #5,
#11): signals from outside to a real running apply, a commit that fails
after the API calls, a git lock on the state ref."""

import os
import signal
import subprocess
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


if __name__ == "__main__":
    main()
