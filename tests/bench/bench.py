#!/usr/bin/env python3
"""pavesync benchmark: prints figures and the targets they meet or miss.

It asserts nothing about time (it is not a test): it prints a table of
measurements, then each target with its measured value, the ratio and
whether it is met. Every configuration gives each account its own API
secret from its own environment variable (BENCH_SECRET_NNNNN), so the
per-account key derivation is paid as users pay it.

  1. N accounts x 5 events (--size, default 1,000; ~500 KB of YAML),
     snapshot seeded by a real apply against the emulator:
       - the floor: tests/yaml_floor (libyaml's event parse of the file and
         nothing else, built by meson),
       - a no-drift `plan -q` and `apply -q` (0 requests),
       - tests/bench/baseline.py, the same job as a competent script (PyYAML
         C loader, one JSON state file on a git ref, HMAC from the standard
         library), no-drift, against its own emulator.
     Targets: plan within 3x of the floor; apply at least 5x faster than
     the baseline.
  2. Latency: 100 accounts x 5 events, all 5 drifted, the emulator adding
     --delay-ms (20) to every response, `apply --concurrency 16`: several
     requests on each kept-alive connection. Ideal = requests x delay /
     concurrency. Target: within 1.5x of the ideal.
  3. 10,000 accounts x 5 events (--big): a no-drift plan (target < 500 ms)
     and an apply with one drifted event in each account (target peak RSS
     < 100 MB).

Times are medians of --runs runs (wall clock around posix_spawn and wait;
part 1's floor, plan, apply and baseline runs interleaved, so that a machine
whose speed drifts slows all four alike);
peak RSS is the maximum over those runs of /usr/bin/time's %M (each run is
repeated under it). A drift apply is measured once (it changes the state).

  python3 tests/bench/bench.py [--runs 7] [--size 1000] [--big 10000]
                               [--delay-ms 20] [--concurrency 16]
                               [--skip 1,2,3] [--bin build/cmd/pavesync]
                               [--markdown]

--markdown prints the table and the targets once more as Markdown tables,
ready to paste into the README's "Benchmarks" section.
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

EVENTS = ["SESSION:SMS_PROCESS", "SESSION:STAGE_CHANGE",
          "SESSION:STATUS_CHANGE", "SESSION:COMPLETE", "SESSION:NOTE_INSERT"]


def secret_var(i):
    return "BENCH_SECRET_%05d" % i


def secret(i):
    return "bench-secret-%05d-%08x" % (i, (i * 2654435761) & 0xffffffff)


def gen_config(path, n, changed=0):
    """n accounts x 5 events; the first `changed` events of every account
    point at a v2 URL (a drift against a snapshot of changed=0)."""
    with open(path, "w") as f:
        f.write("version: 1\ndefaults:\n  headers:\n"
                "    Authorization: \"Bearer ${HOOK_TOKEN}\"\naccounts:\n")
        for i in range(n):
            f.write("  acct%05d:\n    api_key: bench-key-%05d\n"
                    "    api_secret: ${%s}\n    username: user%05d\n"
                    "    callbacks:\n" % (i, i, secret_var(i), i))
            for j, ev in enumerate(EVENTS):
                url = "https://hooks.example.com/%s/%d" % (
                    "v2" if j < changed else "v1", j)
                f.write("      %s:\n        url: %s\n"
                        "        payload: {account: %d, n: %d}\n"
                        % (ev, url, i, j))


def make_env(tmp, n, emu, state):
    env = {"PATH": os.environ.get("PATH", ""), "HOME": tmp,
           "HOOK_TOKEN": "bench-token", "PAVE_API_URL": emu.url,
           "NO_COLOR": "1", "PAVESYNC_STATE_REPO": state,
           "GIT_CONFIG_NOSYSTEM": "1"}
    for i in range(n):
        env[secret_var(i)] = secret(i)
    return env


def register(emu, n):
    conn = http.client.HTTPConnection("127.0.0.1", emu.port)
    for i in range(n):
        body = json.dumps({"api_key": "bench-key-%05d" % i,
                           "api_secret": secret(i),
                           "username": "user%05d" % i})
        conn.request("POST", "/_emulator/accounts", body,
                     {"Content-Type": "application/json"})
        conn.getresponse().read()
    conn.close()


def measured(argv, env, once=False):
    """Run: (seconds, peak RSS MiB, exit code).

    The time is taken around posix_spawn (vfork: nothing of this Python
    process is copied) and wait; the peak RSS comes from /usr/bin/time's %M,
    because a child's ru_maxrss counts the memory of the process it was
    forked from. Without `once` the run is repeated under /usr/bin/time
    for the RSS; with it (a run that changes the state) the one run is
    made under /usr/bin/time (its time then includes that of spawning
    /usr/bin/time, about a millisecond)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    fa = [(os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)]
    try:
        if once:
            return timed_rss(argv, env, fa)
        t0 = time.perf_counter()
        pid = os.posix_spawn(argv[0], argv, env, file_actions=fa)
        _, status, ru = os.wait4(pid, 0)
        elapsed = time.perf_counter() - t0
        rc = os.waitstatus_to_exitcode(status)
        CPU.append(ru.ru_utime + ru.ru_stime)
        return elapsed, timed_rss(argv, env, fa)[1], rc
    finally:
        os.close(devnull)


def timed_rss(argv, env, fa):
    with tempfile.NamedTemporaryFile("r", prefix="bench-rss-") as out:
        t0 = time.perf_counter()
        pid = os.posix_spawn("/usr/bin/time", ["/usr/bin/time", "-f", "%M",
                                               "-o", out.name] + argv, env,
                             file_actions=fa)
        _, status = os.waitpid(pid, 0)
        elapsed = time.perf_counter() - t0
        text = out.read().strip().splitlines()
        rss = int(text[-1]) / 1024.0 if text else float("nan")
        return elapsed, rss, os.waitstatus_to_exitcode(status)


# CPU seconds (user + system, from wait4) of the runs median_of timed.
CPU = []


def median_of(runs, argv, env):
    """(median ms, max RSS MiB); the median CPU ms is in LAST_CPU_MS."""
    global LAST_CPU_MS
    times, rss = [], []
    del CPU[:]
    for _ in range(runs):
        t, r, rc = measured(argv, env)
        if rc != 0:
            raise SystemExit("bench: %s exited %d" % (" ".join(argv[:4]), rc))
        times.append(t)
        rss.append(r)
    LAST_CPU_MS = statistics.median(CPU) * 1000.0
    return statistics.median(times) * 1000.0, max(rss)


LAST_CPU_MS = 0.0


def medians_interleaved(runs, commands, env):
    """[(median ms, max RSS MiB, median CPU ms)] of each argv in commands,
    run in turn `runs` times (a, b, c, a, b, c, ...): a machine whose speed
    drifts during the measurement (a shared virtual machine does) slows
    each command alike, so their ratios stay side by side."""
    times = [[] for _ in commands]
    cpus = [[] for _ in commands]
    rss = [[] for _ in commands]
    for _ in range(runs):
        for i, argv in enumerate(commands):
            del CPU[:]
            t, r, rc = measured(argv, env)
            if rc != 0:
                raise SystemExit("bench: %s exited %d"
                                 % (" ".join(argv[:4]), rc))
            times[i].append(t)
            cpus[i].append(CPU[0])
            rss[i].append(r)
    return [(statistics.median(times[i]) * 1000.0, max(rss[i]),
             statistics.median(cpus[i]) * 1000.0)
            for i in range(len(commands))]


class Report:
    def __init__(self, markdown=False):
        self.targets = []
        self.notes = []
        self.rows = []
        self.markdown = markdown
        print("%-44s %10s %8s %9s %9s %6s" % (
            "measurement", "median ms", "CPU ms", "RSS MiB", "requests",
            "conns"))

    def row(self, what, ms, rss, reqs="", conns="", cpu=None):
        cpu = "" if cpu is None else "%.1f" % cpu
        print("%-44s %10.1f %8s %9.1f %9s %6s" % (
            what, ms, cpu, rss, reqs, conns), flush=True)
        self.rows.append((what, "%.1f" % ms, cpu,
                          "%.1f" % rss if rss else "", str(reqs), str(conns)))

    def target(self, what, want, value, ratio, met):
        self.targets.append((what, want, value, ratio, met))

    def note(self, text):
        self.notes.append(text)

    def finish(self):
        print()
        for text in self.notes:
            print(text)
        print("%-58s %-10s %-12s %-8s %s" % ("target", "wanted", "measured",
                                             "ratio", "met"))
        for what, want, value, ratio, met in self.targets:
            print("%-58s %-10s %-12s %-8s %s" % (what, want, value, ratio,
                                                 "yes" if met else "NO"))
        missed = sum(1 for t in self.targets if not t[4])
        print("\n%d of %d targets met" % (len(self.targets) - missed,
                                          len(self.targets)))
        if self.markdown:
            self.print_markdown()

    def print_markdown(self):
        """The same figures as Markdown tables, for the README."""
        print("\n| what | wall ms (median) | CPU ms (median) | peak RSS MiB "
              "| requests | connections |")
        print("|---|---:|---:|---:|---:|---:|")
        for r in self.rows:
            print("| %s |" % " | ".join(x.strip() for x in r))
        print("\n| target | wanted | measured | ratio | met |")
        print("|---|---|---|---|---|")
        for what, want, value, ratio, met in self.targets:
            print("| %s | %s | %s | %s | %s |" % (what, want, value, ratio,
                                                  "yes" if met else "no"))


def seed(rep, a, n, emu, env, cfg, label):
    emu.clear_requests()
    t, rss, rc = measured([a.bin, "-q", "-c", cfg, "apply", "--concurrency",
                           str(a.concurrency)], env, once=True)
    st = emu.stats()
    if rc != 0 or st["requests"] != n * len(EVENTS):
        raise SystemExit("bench: seed apply failed (%d, %d requests)"
                         % (rc, st["requests"]))
    rep.row(label, t * 1000, rss, st["requests"], st["connections"])


def part_main(rep, a):
    n = a.size
    with tempfile.TemporaryDirectory(prefix="pavesync-bench-") as tmp, \
            Emulator() as emu, Emulator() as emu_py:
        register(emu, n)
        register(emu_py, n)
        cfg = os.path.join(tmp, "pavesync.yaml")
        gen_config(cfg, n)
        env = make_env(tmp, n, emu, os.path.join(tmp, "state"))
        seed(rep, a, n, emu, env, cfg, "%d accts: seed apply" % n)
        base = [a.bin, "-q", "-c", cfg]
        py = [sys.executable, os.path.join(HERE, "baseline.py"), cfg,
              os.path.join(tmp, "baseline-state"), emu_py.url]
        t, rss, rc = measured(py, env, once=True)
        if rc != 0 or emu_py.stats()["requests"] != n * len(EVENTS):
            raise SystemExit("bench: baseline seed failed (%d)" % rc)
        rep.row("%d accts: baseline.py seed" % n, t * 1000, rss,
                emu_py.stats()["requests"], emu_py.stats()["connections"])

        # The four no-drift runs side by side, interleaved.
        emu.clear_requests()
        emu_py.clear_requests()
        (floor, frss, floor_cpu), (plan, prss, plan_cpu), \
            (apply_, arss, apply_cpu), (pyt, pyrss, py_cpu) = \
            medians_interleaved(a.runs, [[a.floor, cfg], base + ["plan"],
                                         base + ["apply"], py], env)
        st = emu.stats()
        if st["requests"] or emu_py.stats()["requests"]:
            raise SystemExit("bench: a no-drift run made API calls")
        rep.row("%d accts: libyaml event parse (floor)" % n, floor, frss,
                cpu=floor_cpu)
        rep.row("%d accts: plan, no drift" % n, plan, prss, 0, cpu=plan_cpu)
        rep.row("%d accts: apply, no drift" % n, apply_, arss,
                st["requests"], st["connections"], cpu=apply_cpu)
        rep.row("%d accts: baseline.py, no drift" % n, pyt, pyrss,
                emu_py.stats()["requests"], cpu=py_cpu)

        r = plan / floor
        rep.target("no-drift plan, %d accts, vs libyaml parse" % n, "<= 3x",
                   "%.1f/%.1f ms" % (plan, floor), "%.2fx" % r, r <= 3.0)
        r = pyt / apply_
        rep.target("no-drift apply, %d accts, vs baseline.py" % n,
                   ">= 5x", "%.1f/%.1f ms" % (pyt, apply_), "%.1fx" % r,
                   r >= 5.0)
        # The same two in CPU time (user + system): what a loaded machine
        # does not distort. Informational; the targets are wall time.
        rep.note("CPU: plan/floor %.1f/%.1f ms = %.2fx; baseline/apply "
                 "%.1f/%.1f ms = %.1fx" % (plan_cpu, floor_cpu,
                                           plan_cpu / floor_cpu, py_cpu,
                                           apply_cpu, py_cpu / apply_cpu))


def part_latency(rep, a):
    n = 100
    with tempfile.TemporaryDirectory(prefix="pavesync-bench-") as tmp, \
            Emulator() as emu:
        register(emu, n)
        cfg = os.path.join(tmp, "pavesync.yaml")
        gen_config(cfg, n)
        env = make_env(tmp, n, emu, os.path.join(tmp, "state"))
        seed(rep, a, n, emu, env, cfg, "%d accts: seed apply" % n)
        emu.config(delay_ms=a.delay_ms)
        times, rss, reqs, conns = [], 0.0, 0, 0
        for k in range(a.runs):
            # Alternate between two configs: every run changes all 5
            # events of every account.
            gen_config(cfg, n, changed=len(EVENTS) if k % 2 == 0 else 0)
            emu.clear_requests()
            t, r, rc = measured([a.bin, "-q", "-c", cfg, "apply",
                                 "--concurrency", str(a.concurrency)], env,
                                once=True)
            st = emu.stats()
            if rc != 0 or st["requests"] != n * len(EVENTS):
                raise SystemExit("bench: latency apply failed (%d, %d "
                                 "requests)" % (rc, st["requests"]))
            times.append(t * 1000)
            rss = max(rss, r)
            reqs, conns = st["requests"], st["connections"]
        ms = statistics.median(times)
        ideal = reqs * a.delay_ms / a.concurrency
        rep.row("%d accts x 5 drifted, +%d ms, --concurrency %d" % (
            n, a.delay_ms, a.concurrency), ms, rss, reqs, conns)
        rep.row("  ideal (requests x delay / concurrency)", ideal, 0)
        r = ms / ideal
        rep.target("latency-bound apply vs ideal (%.1f requests/conn)" % (
            reqs / max(conns, 1)), "<= 1.5x", "%.0f/%.0f ms" % (ms, ideal),
            "%.2fx" % r, r <= 1.5)


def part_big(rep, a):
    n = a.big
    with tempfile.TemporaryDirectory(prefix="pavesync-bench-") as tmp, \
            Emulator() as emu:
        register(emu, n)
        cfg = os.path.join(tmp, "pavesync.yaml")
        gen_config(cfg, n)
        env = make_env(tmp, n, emu, os.path.join(tmp, "state"))
        seed(rep, a, n, emu, env, cfg, "%d accts: seed apply" % n)
        base = [a.bin, "-q", "-c", cfg]
        emu.clear_requests()
        plan, rss = median_of(a.runs, base + ["plan"], env)
        rep.row("%d accts: plan, no drift" % n, plan, rss,
                emu.stats()["requests"], cpu=LAST_CPU_MS)
        apply_, rss = median_of(a.runs, base + ["apply"], env)
        rep.row("%d accts: apply, no drift" % n, apply_, rss,
                emu.stats()["requests"], cpu=LAST_CPU_MS)
        gen_config(cfg, n, changed=1)
        emu.clear_requests()
        t, drss, rc = measured(base + ["apply", "--concurrency",
                                       str(a.concurrency)], env, once=True)
        st = emu.stats()
        if rc != 0 or st["requests"] != n:
            raise SystemExit("bench: drift apply failed (%d, %d requests)"
                             % (rc, st["requests"]))
        rep.row("%d accts: apply, 1 drifted event each" % n, t * 1000, drss,
                st["requests"], st["connections"])
        rep.target("no-drift plan, %d accts" % n, "< 500 ms",
                   "%.1f ms" % plan, "%.2fx" % (plan / 500.0), plan < 500)
        rep.target("apply 1 drift/acct, %d accts, peak RSS" % n, "< 100 MB",
                   "%.1f MiB" % drss, "%.2fx" % (drss / 100.0), drss < 100)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--size", type=int, default=1000)
    ap.add_argument("--big", type=int, default=10000)
    ap.add_argument("--delay-ms", type=int, default=20)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--skip", default="", help="parts to skip: 1,2,3")
    ap.add_argument("--markdown", action="store_true",
                    help="also print the figures as Markdown tables")
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "cmd",
                                                  "pavesync"))
    ap.add_argument("--floor", default=os.path.join(ROOT, "build", "tests",
                                                    "yaml_floor"))
    a = ap.parse_args()
    skip = {s for s in a.skip.split(",") if s}
    rep = Report(a.markdown)
    if "1" not in skip:
        part_main(rep, a)
    if "2" not in skip:
        part_latency(rep, a)
    if "3" not in skip:
        part_big(rep, a)
    rep.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
