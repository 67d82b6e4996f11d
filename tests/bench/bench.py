#!/usr/bin/env python3
"""pavesync benchmark: prints figures, asserts nothing about time.

For 1, 100, 1,000 and 10,000 accounts x 5 events it generates a config,
seeds the snapshot with a real apply against the emulator, then measures
(median of --runs runs) wall time and peak RSS of:
  validate, a no-drift plan, a no-drift apply (must make 0 requests),
  and an apply where every account drifted on one event (requests must equal
  the drifted events, TCP connections one per account).
With --delay-ms the emulator adds that much to every response, the
concurrency-scaling figure of issue 4 (ideal = requests x delay / concurrency).

  python3 tests/bench/bench.py [--sizes 1,100,1000,10000] [--runs 5]
                               [--delay-ms 20] [--concurrency 16]
"""

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "emulator"))
from emulator import Emulator  # noqa: E402

EVENTS = ["SESSION:SMS_PROCESS", "SESSION:STAGE_CHANGE", "SESSION:STATUS_CHANGE",
          "SESSION:COMPLETE", "SESSION:NOTE_INSERT"]
SECRET = "bench-secret"


def gen_config(path, n, version="v1"):
    with open(path, "w") as f:
        f.write("version: 1\ndefaults:\n  headers:\n    Authorization: \"Bearer ${HOOK_TOKEN}\"\naccounts:\n")
        for i in range(n):
            f.write("  acct%05d:\n    api_key: bench-key-%05d\n    api_secret: ${BENCH_SECRET}\n"
                    "    username: user%05d\n    callbacks:\n" % (i, i, i))
            for j, ev in enumerate(EVENTS):
                url = "https://hooks.example.com/%s/%d" % (version if j == 0 else "v1", j)
                f.write("      %s:\n        url: %s\n        payload: {account: %d, n: %d}\n"
                        % (ev, url, i, j))


def register(emu, n):
    host, port = emu.url[len("http://"):].split(":")
    conn = http.client.HTTPConnection(host, int(port))
    for i in range(n):
        body = json.dumps({"api_key": "bench-key-%05d" % i, "api_secret": SECRET,
                           "username": "user%05d" % i})
        conn.request("POST", "/_emulator/accounts", body, {"Content-Type": "application/json"})
        conn.getresponse().read()
    conn.close()


def measured(bin_, args, env):
    """Run and measure wall time and peak RSS via wait4."""
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.execve(bin_, [bin_] + args, env)
    _, status, ru = os.wait4(pid, 0)
    elapsed = time.perf_counter() - t0
    return elapsed, ru.ru_maxrss / 1024.0, os.waitstatus_to_exitcode(status)


def median_of(runs, bin_, args, env):
    times, rss, rc = [], [], None
    for _ in range(runs):
        t, r, rc = measured(bin_, args, env)
        times.append(t)
        rss.append(r)
    return statistics.median(times), max(rss), rc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1,100,1000,10000")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--delay-ms", type=int, default=20)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--delay-sizes", default="1000",
                    help="sizes for which the delayed drift apply is measured")
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "cmd", "pavesync"))
    a = ap.parse_args()
    sizes = [int(s) for s in a.sizes.split(",")]
    delay_sizes = {int(s) for s in a.delay_sizes.split(",") if s}

    rows = []
    print("%-9s %-22s %10s %9s %9s %12s %8s %8s" % (
        "accounts", "what", "median ms", "RSS MiB", "requests", "connections", "ideal ms", "ratio"))
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="pavesync-bench-") as tmp, \
                Emulator() as emu:
            register(emu, n)
            cfg = os.path.join(tmp, "pavesync.yaml")
            gen_config(cfg, n)
            env = {"PATH": os.environ.get("PATH", ""), "HOME": tmp, "BENCH_SECRET": SECRET,
                   "HOOK_TOKEN": "bench-token", "PAVE_API_URL": emu.url, "NO_COLOR": "1",
                   "PAVESYNC_STATE_REPO": os.path.join(tmp, "state")}
            base = ["-q", "-c", cfg]

            def line(what, ms, rss, reqs="", conns="", ideal="", ratio=""):
                print("%-9d %-22s %10.1f %9.1f %9s %12s %8s %8s" % (
                    n, what, ms, rss, reqs, conns, ideal, ratio), flush=True)
                rows.append((n, what, ms, rss, reqs, conns, ideal, ratio))

            emu.clear_requests()
            t, rss, rc = measured(a.bin, base + ["apply", "--concurrency", str(a.concurrency)], env)
            st = emu.stats()
            line("seed apply", t * 1000, rss, st["requests"], st["connections"])
            assert rc == 0, "seed apply failed: %d" % rc

            t, rss, rc = median_of(a.runs, a.bin, base + ["validate"], env)
            line("validate", t * 1000, rss)
            emu.clear_requests()
            t, rss, rc = median_of(a.runs, a.bin, base + ["plan"], env)
            line("plan (no drift)", t * 1000, rss, emu.stats()["requests"])
            t, rss, rc = median_of(a.runs, a.bin, base + ["apply"], env)
            line("apply (no drift)", t * 1000, rss, emu.stats()["requests"],
                 emu.stats()["connections"])

            gen_config(cfg, n, version="v2")
            if n in delay_sizes and a.delay_ms:
                emu.config(delay_ms=a.delay_ms)
            emu.clear_requests()
            t, rss, rc = measured(a.bin, base + ["apply", "--concurrency", str(a.concurrency)], env)
            st = emu.stats()
            if n in delay_sizes and a.delay_ms:
                ideal = st["requests"] * a.delay_ms / a.concurrency
                line("apply (1 drift/acct, %dms)" % a.delay_ms, t * 1000, rss, st["requests"],
                     st["connections"], "%.0f" % ideal, "%.2f" % (t * 1000 / ideal))
            else:
                line("apply (1 drift/acct)", t * 1000, rss, st["requests"], st["connections"])
            assert rc == 0, "drift apply failed: %d" % rc
            assert st["requests"] == n, "requests %d != drifted events %d" % (st["requests"], n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
