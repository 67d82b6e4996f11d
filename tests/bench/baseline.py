#!/usr/bin/env python3
"""baseline.py -- pavesync's job as a competent user would script it.

The benchmark (tests/bench/bench.py) runs it side by side with `pavesync
apply` on the same config: it is the "straightforward script" a no-drift
apply is compared with.

    baseline.py CONFIG STATE_REPO API_URL

Reads CONFIG with PyYAML's C loader and expands ${VAR} from the environment
(every account its own api_secret variable). Each account's desired
callbacks are recorded with header values replaced by an HMAC-SHA256
fingerprint keyed by a key derived from the account's secret (secrets never
reach the state). The state is ONE JSON file, state.json, in commits on
refs/heads/baseline-state of the bare repository STATE_REPO (read with
`git cat-file`). When every account's record equals its desired callbacks
the script exits 0 without any API call. Otherwise it creates (POST) or
updates (PUT) the callbacks that differ, signed as the PAVE API wants, on one
kept-alive connection per account, then commits the new state.json and
moves the ref. Exit 0 on success, 1 on any failure.
"""

import datetime
import hashlib
import hmac
import http.client
import json
import os
import re
import subprocess
import sys
import urllib.parse

import yaml

REF = "refs/heads/baseline-state"
VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand(v):
    if isinstance(v, str):
        return VAR.sub(lambda m: os.environ[m.group(1)], v)
    if isinstance(v, dict):
        return {k: expand(x) for k, x in v.items()}
    if isinstance(v, list):
        return [expand(x) for x in v]
    return v


def git(repo, *args, data=None):
    return subprocess.run(["git", "-c", "user.name=baseline", "-c",
                           "user.email=baseline@localhost", "--git-dir",
                           repo] + list(args),
                          input=data, capture_output=True, check=True).stdout


def read_state(repo):
    try:
        head = git(repo, "rev-parse", "--verify", "-q", REF).decode().strip()
    except subprocess.CalledProcessError:
        return None, {}
    return head, json.loads(git(repo, "cat-file", "blob",
                                head + ":state.json"))


def write_state(repo, head, state):
    blob = git(repo, "hash-object", "-w", "--stdin",
               data=json.dumps(state, sort_keys=True).encode()).decode().strip()
    tree = git(repo, "mktree",
               data=("100644 blob %s\tstate.json\n" % blob).encode()
               ).decode().strip()
    args = ["commit-tree", tree, "-m", "baseline: update state"]
    if head:
        args += ["-p", head]
    commit = git(repo, *args).decode().strip()
    git(repo, "update-ref", REF, commit, head or "0" * 40)


def plan(cfg):
    """{account: (settings, {event: (wire body, recorded form)})}"""
    defaults = expand(cfg.get("defaults") or {})
    d_headers = defaults.get("headers") or {}
    d_method = defaults.get("method", "POST")
    out = {}
    for name, acct in (cfg.get("accounts") or {}).items():
        acct = expand(acct)
        key = hmac.new(acct["api_secret"].encode(), name.encode(),
                       hashlib.sha256).digest()
        cbs = {}
        for event, cb in (acct.get("callbacks") or {}).items():
            headers = {k.lower(): str(v) for k, v in d_headers.items()}
            headers.update({k.lower(): str(v)
                            for k, v in (cb.get("headers") or {}).items()})
            wire = {"url": cb["url"], "method": cb.get("method", d_method),
                    "headers": headers, "payload": cb.get("payload") or {}}
            record = dict(wire, headers={
                k: "hmac:" + hmac.new(key, v.encode(),
                                      hashlib.sha256).hexdigest()
                for k, v in headers.items()})
            cbs[event] = (wire, record)
        out[name] = (acct, cbs)
    return out


def signed(acct):
    ts = datetime.datetime.now(datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    msg = "%s:%s@%s" % (acct["username"], acct["api_key"], ts)
    return {"API-Key": acct["api_key"], "API-Timestamp": ts,
            "API-Token": hmac.new(acct["api_secret"].encode(), msg.encode(),
                                  hashlib.sha256).hexdigest(),
            "Content-Type": "application/json"}


def main(argv):
    if len(argv) != 4:
        sys.stderr.write(__doc__)
        return 1
    config, repo, api = argv[1:]
    with open(config, "rb") as f:
        cfg = yaml.load(f, Loader=yaml.CLoader)
    if not os.path.isdir(repo):
        subprocess.run(["git", "init", "-q", "--bare", repo], check=True)
    head, state = read_state(repo)
    wanted = plan(cfg)
    drifted = {name: [ev for ev, (_, rec) in cbs.items()
                      if state.get(name, {}).get(ev) != rec]
               for name, (_, cbs) in wanted.items()}
    drifted = {k: v for k, v in drifted.items() if v}
    if not drifted:
        return 0
    u = urllib.parse.urlsplit(api)
    for name, events in sorted(drifted.items()):
        acct, cbs = wanted[name]
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        recorded = state.setdefault(name, {})
        for ev in events:
            wire, rec = cbs[ev]
            if ev in recorded:
                path = "/v1/callbacks/" + urllib.parse.quote(ev, safe="")
                conn.request("PUT", path, json.dumps(wire), signed(acct))
            else:
                conn.request("POST", "/v1/callbacks",
                             json.dumps(dict(wire, event=ev)), signed(acct))
            r = conn.getresponse()
            body = r.read()
            if r.status != 200:
                sys.stderr.write("baseline: %s %s: %d %s\n" %
                                 (name, ev, r.status, body[:200]))
                return 1
            recorded[ev] = rec
        conn.close()
    write_state(repo, head, state)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
