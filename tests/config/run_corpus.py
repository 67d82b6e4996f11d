#!/usr/bin/env python3
"""Data-driven config cases: run `pavesync -c FILE validate` on each file.

usage: run_corpus.py PAVESYNC_BIN TESTS_CONFIG_DIR

  valid/*.yaml        must exit 0
  invalid/*.yaml      must exit 1, and stderr must contain, for each line
  invalid-c/*.yaml    "LINE:COL: message" of NAME.err beside it, the text
                      "FILE:LINE:COL: message" (the message may be a
                      substring of the reported one); a line "!text"
                      says text must NOT appear (a secret must not leak)

invalid/ holds what the JSON Schema can express too (check_agreement.py
compares the two on valid/ and invalid/); invalid-c/ holds what only the C
validator can see: duplicate keys, environment, encoding, limits, tags.

Every case runs in the same fixed environment (corpus_env below); an
optional NAME.env beside a case adjusts it: "VAR=value" sets, "-VAR" unsets.
"""
import os
import subprocess
import sys

DIRS = ("valid", "invalid", "invalid-c")
TIMEOUT = 10  # seconds per case; the limit cases must fail fast


def corpus_env():
    """The fixed environment every case runs in."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LC_ALL": "C",
        "NO_COLOR": "1",
        "HOOK_TOKEN": "corpus-token",
        "HOOK_URL": "https://hooks.example.com/from-env",
        "HOOK_BAD_URL": "ftp://secret-host.example.com/x",
        "HOOK_CRLF": "a\r\nX-Injected: 1",
        "PAVE_API_KEY": "corpus-key",
        "PAVE_API_SECRET": "corpus-secret",
        "PAVE_USERNAME": "corpus-user",
        "PAVE_SECRET_NORTH": "north-secret",
        "PAVE_SECRET_SOUTH": "south-secret",
        "PS_CORPUS_EMPTY": "",
    }
    # Let sanitizer settings through so an ASan build reports properly.
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        if k in os.environ:
            env[k] = os.environ[k]
    return env


def case_env(yaml_path):
    env = corpus_env()
    env_file = yaml_path[: -len(".yaml")] + ".env"
    if os.path.exists(env_file):
        with open(env_file, encoding="utf-8") as f:
            for line in f:
                line = line.rstrip("\n")
                if not line or line.startswith("#"):
                    continue
                if line.startswith("-"):
                    env.pop(line[1:], None)
                else:
                    k, _, v = line.partition("=")
                    env[k] = v
    return env


def run(binary, path):
    """(exit code, stderr text) of `pavesync -c path validate`."""
    p = subprocess.run([binary, "-c", path, "validate"],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=case_env(path),
                       timeout=TIMEOUT, check=False)
    return p.returncode, p.stderr.decode("utf-8", "replace")


def expected_errors(yaml_path):
    err_path = yaml_path[: -len(".yaml")] + ".err"
    if not os.path.exists(err_path):
        return None
    with open(err_path, encoding="utf-8") as f:
        return [l.rstrip("\n") for l in f if l.strip()]


def check_case(binary, kind, path):
    """A list of problems with this case (empty: passed)."""
    try:
        code, err = run(binary, path)
    except subprocess.TimeoutExpired:
        return ["timed out after %ds" % TIMEOUT]
    if kind == "valid":
        if code != 0:
            return ["expected exit 0, got %d:\n%s" % (code, err)]
        return []
    problems = []
    if code != 1:
        problems.append("expected exit 1, got %d" % code)
    want = expected_errors(path)
    if want is None:
        problems.append("missing %s" % (path[:-5] + ".err"))
        want = []
    lines = err.splitlines()
    for w in want:
        if w.startswith("!"):
            # "!text": must not appear (a secret that must not leak).
            if w[1:] in err:
                problems.append("stderr shows %r" % w[1:])
            continue
        loc, sep, msg = w.partition(": ")
        if not sep:
            problems.append("bad .err line %r (want LINE:COL: message)" % w)
            continue
        prefix = "%s:%s: " % (path, loc)
        if not any(l.startswith(prefix) and msg in l[len(prefix):]
                   for l in lines):
            problems.append("missing %s%s" % (prefix, msg))
    if problems:
        problems.append("stderr was:\n" + err)
    return problems


def main(argv):
    if len(argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    binary, root = argv[1], argv[2]
    passed = failed = 0
    for kind in DIRS:
        d = os.path.join(root, kind)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            if not name.endswith(".yaml"):
                continue
            path = os.path.join(d, name)
            problems = check_case(binary, kind, path)
            if problems:
                failed += 1
                print("FAIL %s/%s" % (kind, name))
                for p in problems:
                    print("  " + p.replace("\n", "\n    "))
            else:
                passed += 1
                print("ok   %s/%s" % (kind, name))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
