#!/usr/bin/env python3
"""pave_emulator.py -- a faithful local emulator of the PAVE callbacks API.

Standard-library Python 3 only. Used by the unit tests, the integration
tests, the benchmarks and the README quick start.

Command line
============

    pave_emulator.py [--host 127.0.0.1] [--port 0] [--port-file FILE]
                     [--account KEY:SECRET:USERNAME]... [--delay-ms N]
                     [--skew-seconds 300] [--auth-status 401]
                     [--post-existing 400|409|422|upsert]
                     [--max-connections N] [--idle-timeout SECONDS]
                     [--verbose]

--port 0 picks a free port. Once listening, the port number is written to
--port-file (atomically: a temporary file renamed into place) and
"pave-emulator listening on http://HOST:PORT" is printed to stdout. The
server runs until SIGTERM or SIGINT and then exits 0. It speaks HTTP/1.1
with keep-alive (every reply has a Content-Length) and serves each TCP
connection on its own daemon thread, for as many requests as the client
sends on it. Each reply (headers and body) goes out in one write with
TCP_NODELAY set, so a kept-alive request takes the configured delay and
not a Nagle/delayed-ACK stall more; the listen backlog is 1024, so a burst
of connects is not dropped. Nothing is logged per request unless
--verbose is given.

--max-connections N: at most N TCP connections are served at once; a
connection beyond that gets one 503 {"message":"Too many connections."}
with "Retry-After: 1" and "Connection: close" (like a load balancer at
capacity). Default: unlimited.
--idle-timeout: an idle keep-alive connection is closed after this many
seconds (default 120).

The API (SPEC section 1)
========================

Every /v1 request must carry API-Key, API-Timestamp (YYYY-MM-DDTHH:MM:SSZ)
and API-Token = lowercase hex HMAC-SHA256(key=secret,
msg="<username>:<api_key>@<timestamp>"). An unknown key or a wrong token
answers --auth-status (401) {"message":"Invalid API credentials."}; missing
headers answer {"message":"Missing API credentials."}; an unparseable
timestamp or one more than --skew-seconds away from now answers
{"message":"Invalid API timestamp."}. Storage is per API key.

  GET    /v1/callbacks         200 {"api_key":K,"data":[callback...]} (by event)
  GET    /v1/callbacks/EVENT   200 {"api_key":K,"data":callback}
                               404 {"api_key":K,"message":"Your API Key does
                                   not have callback setting for the event
                                   EVENT."}
  POST   /v1/callbacks         body {"event","url","method"?,"headers"?,
                               "payload"?}
                               200 {"api_key":K,"event","url","method",
                                   "headers","payload"}
                               400 {"message":"Missing required fields."}
                                   (event/url missing or event unknown)
                               existing event: per --post-existing: 400 (the
                               default) {"message":"Callback setting for the
                               event EVENT already exists."}, 409, 422 (same
                               body), or "upsert" (overwrite, 200)
  PUT    /v1/callbacks/EVENT   body {"url","method"?,"headers"?,"payload"?}
                               200 echo as for POST; 400 missing url; 404
  DELETE /v1/callbacks/EVENT   200 {"api_key":K,"message":"Callback setting
                               deleted."}; 404

The event in a path may be plain (SESSION:COMPLETE) or %3A-encoded. An
unknown event in a path answers 404. "method" defaults to "POST", "headers"
and "payload" to {}; headers/payload may be given as objects or as JSON
strings holding objects (they are stored as objects); anything else answers
400 {"message":"Invalid headers."} / {"message":"Invalid payload."}. A body
that is not a JSON object answers 400 {"message":"Invalid JSON body."}.
Unknown paths answer 404 {"message":"Not found."}; other methods 405.

Admin API (no auth; not in the request log, not counted)
========================================================

  POST   /_emulator/accounts          {"api_key","api_secret","username"}
                                      add or replace an account -> 200 {}
  GET    /_emulator/callbacks/KEY     {EVENT: callback} stored for KEY
  PUT    /_emulator/callbacks/KEY     {EVENT: callback}: replace the whole
                                      storage of KEY (a dashboard edit);
                                      "event" in a callback is optional, and
                                      missing method/headers/payload get the
                                      API defaults
  DELETE /_emulator/callbacks/KEY     empty the storage of KEY
  GET    /_emulator/requests          [{"seq","time","method","path","event",
                                      "api_key","body","status",
                                      "connection"}] in arrival order:
                                      "event" decoded from the path (or the
                                      POST body) or null; "api_key" the
                                      API-Key header or null; "body" parsed
                                      JSON or null; "status" the status sent
                                      (null for a dropped connection);
                                      "connection" an integer id of the TCP
                                      connection; "time" the arrival time
                                      (float seconds since the epoch)
  DELETE /_emulator/requests          clear the request log and the stats
  GET    /_emulator/stats             {"requests": N, "connections": M,
                                      "max_concurrent": P}: M = distinct TCP
                                      connections that carried at least one
                                      /v1 request since the last clear, P =
                                      the peak number of TCP connections
                                      open at once since the last clear
  GET    /_emulator/faults            the fault rules in force
  POST   /_emulator/faults            add a fault rule (below)
  DELETE /_emulator/faults            remove every fault rule
  GET    /_emulator/config            the current settings
  POST   /_emulator/config            {"delay_ms"?, "post_existing"?,
                                      "skew_seconds"?, "auth_status"?}:
                                      change settings at run time

Fault rules are checked after authentication, in the order they were added;
the first matching rule wins:

  {"method": "PUT"|"*", "event": EVENT|"*", "api_key"?: K,
   "status"?: int, "body"?: str, "retry_after"?: str, "delay_ms"?: int,
   "drop"?: bool, "malformed"?: bool, "oversized"?: int,
   "drop_field"?: "payload"|"headers"|"method"|"url",
   "times"?: int, "apply"?: bool}

"method" and "event" default to "*". For the list call (GET /v1/callbacks)
only "*" matches the event; for POST the event is the one in the body.
"times" (default unlimited) counts matches; the rule disappears when it is
used up. What a matching rule does, in order:

  delay_ms    sleep that long first (then carry on)
  apply       perform the real operation first, then send the faulty reply
              (a request that landed but whose answer got lost)
  drop        close the connection without answering
  malformed   200 with a body that is not JSON
  oversized   200 with a valid-JSON body of that many bytes: the real
              reply (for GET, or with apply) or {"api_key":K}, with a
              "padding" string member filling it up
  status      that status with "body" (default {"message":"Injected
              fault."}) and a Retry-After header when retry_after is set
  drop_field  perform the operation normally but omit that field from the
              echoed callback and from storage (a server silently dropping
              a field)
  echo        {FIELD: VALUE}: perform the operation normally, then send
              the callback(s) of the reply with those fields replaced by
              the given values (storage is not changed): e.g. headers as
              a string, the way some servers echo them

A rule with only delay_ms, drop_field or echo answers normally after its
effect.
"""

import argparse
import datetime
import hashlib
import hmac
import json
import os
import signal
import socket
import sys
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

EVENTS = (
    "SESSION:SMS_PROCESS",
    "SESSION:STAGE_CHANGE",
    "SESSION:STATUS_CHANGE",
    "SESSION:COMPLETE",
    "SESSION:NOTE_INSERT",
)

CALLBACK_FIELDS = ("event", "url", "method", "headers", "payload")
MAX_BODY = 16 * 1024 * 1024


class Drop(Exception):
    """Close the connection without answering."""


class State:
    """Everything the server knows, guarded by one lock."""

    def __init__(self, args):
        self.lock = threading.Lock()
        self.accounts = {}  # api_key -> (secret, username)
        self.storage = {}  # api_key -> {event: callback}
        self.log = []
        self.seq = 0
        self.conn_ids = set()
        self.open_connections = 0
        self.max_concurrent = 0
        self.next_conn = 0
        self.faults = []
        self.config = {
            "delay_ms": args.delay_ms,
            "post_existing": args.post_existing,
            "skew_seconds": args.skew_seconds,
            "auth_status": args.auth_status,
        }
        self.max_connections = args.max_connections
        for spec in args.account or []:
            parts = spec.split(":", 2)
            if len(parts) != 3 or not parts[0]:
                raise SystemExit(
                    "pave-emulator: --account wants KEY:SECRET:USERNAME")
            self.accounts[parts[0]] = (parts[1], parts[2])


def parse_timestamp(ts):
    try:
        dt = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, TypeError):
        return None
    if len(ts) != 20:
        return None
    return dt.replace(tzinfo=datetime.timezone.utc).timestamp()


def expected_token(secret, username, api_key, ts):
    msg = "%s:%s@%s" % (username, api_key, ts)
    return hmac.new(secret.encode(), msg.encode(), hashlib.sha256).hexdigest()


def not_found_message(event):
    return ("Your API Key does not have callback setting for the event %s."
            % event)


def as_object(value):
    """An object, or a JSON string holding one; None when neither."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        try:
            v = json.loads(value)
        except ValueError:
            return None
        return v if isinstance(v, dict) else None
    return None


def normalise(event, body, require_url=True):
    """Build a stored callback from a request body; (callback, error)."""
    url = body.get("url")
    if require_url and (not isinstance(url, str) or not url):
        return None, "Missing required fields."
    cb = {"event": event, "url": url}
    method = body.get("method", "POST")
    if method is None:
        method = "POST"
    if not isinstance(method, str) or not method:
        return None, "Invalid method."
    cb["method"] = method
    for field in ("headers", "payload"):
        v = body.get(field)
        if v is None:
            v = {}
        obj = as_object(v)
        if obj is None:
            return None, "Invalid %s." % field
        cb[field] = obj
    return cb, None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "pave-emulator/1"
    sys_version = ""
    disable_nagle_algorithm = True

    # -- connection bookkeeping ------------------------------------------

    def setup(self):
        super().setup()
        st = self.server.state
        self.connection.settimeout(self.server.idle_timeout)
        self.entry = None
        with st.lock:
            st.next_conn += 1
            self.conn_id = st.next_conn
            st.open_connections += 1
            if st.open_connections > st.max_concurrent:
                st.max_concurrent = st.open_connections
            self.over_limit = (st.max_connections is not None and
                               st.open_connections > st.max_connections)

    def finish(self):
        try:
            super().finish()
        finally:
            st = self.server.state
            with st.lock:
                st.open_connections -= 1

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("pave-emulator: %s %s\n" %
                             (self.address_string(), fmt % args))

    # -- plumbing -----------------------------------------------------------

    def reply(self, status, obj=None, raw=None, headers=None):
        if raw is None:
            raw = json.dumps(obj if obj is not None else {}).encode()
        # Log the status before the client can see the reply (and then
        # read the log).
        if self.entry is not None:
            self.entry["status"] = status
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        # Headers and body leave in ONE write: two writes on a kept-alive
        # connection meet Nagle's algorithm and the client's delayed ACK
        # (~40 ms per response) wherever TCP_NODELAY does not hold.
        self._headers_buffer.append(b"\r\n")
        if self.command != "HEAD":
            self._headers_buffer.append(raw)
        data = b"".join(self._headers_buffer)
        self._headers_buffer = []
        self.wfile.write(data)
        return status

    def read_body(self):
        te = self.headers.get("Transfer-Encoding", "")
        if te.lower() == "chunked":
            data = b""
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n",
                                                             b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline(1024)
                if len(data) > MAX_BODY:
                    raise Drop()
        n = int(self.headers.get("Content-Length") or 0)
        if n < 0 or n > MAX_BODY:
            raise Drop()
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def do_PATCH(self):
        self.dispatch()

    def do_HEAD(self):
        self.dispatch()

    def dispatch(self):
        self.entry = None
        try:
            raw = self.read_body()
        except (ValueError, Drop):
            self.close_connection = True
            return
        if self.over_limit:
            self.close_connection = True
            self.reply(503, {"message": "Too many connections."},
                       headers={"Retry-After": "1"})
            return
        path = urllib.parse.urlsplit(self.path).path
        try:
            if path.startswith("/_emulator/"):
                self.admin(path, raw)
            else:
                self.api(path, raw)
        except Drop:
            self.close_connection = True
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # -- admin API ----------------------------------------------------------

    def admin(self, path, raw):
        st = self.server.state
        try:
            body = json.loads(raw) if raw.strip() else None
        except ValueError:
            self.reply(400, {"message": "Invalid JSON body."})
            return
        m = self.command
        parts = path[len("/_emulator/"):].split("/", 1)
        what = parts[0]
        arg = urllib.parse.unquote(parts[1]) if len(parts) > 1 else None

        if what == "accounts" and m == "POST" and arg is None:
            if not isinstance(body, dict) or not all(
                    isinstance(body.get(k), str)
                    for k in ("api_key", "api_secret", "username")):
                self.reply(400, {"message": "Want api_key, api_secret, "
                                 "username."})
                return
            with st.lock:
                st.accounts[body["api_key"]] = (body["api_secret"],
                                                body["username"])
            self.reply(200, {})
        elif what == "callbacks" and arg:
            if m == "GET":
                with st.lock:
                    data = dict(st.storage.get(arg, {}))
                self.reply(200, data)
            elif m == "PUT":
                if not isinstance(body, dict):
                    self.reply(400, {"message": "Want {EVENT: callback}."})
                    return
                new = {}
                for event, cb in body.items():
                    if not isinstance(cb, dict):
                        self.reply(400, {"message": "Want {EVENT: callback}."})
                        return
                    cb = dict(cb)
                    cb["event"] = event
                    cb.setdefault("method", "POST")
                    for f in ("headers", "payload"):
                        if f not in cb:
                            cb[f] = {}
                        elif as_object(cb[f]) is not None:
                            cb[f] = as_object(cb[f])
                    new[event] = cb
                with st.lock:
                    st.storage[arg] = new
                self.reply(200, new)
            elif m == "DELETE":
                with st.lock:
                    st.storage.pop(arg, None)
                self.reply(200, {})
            else:
                self.reply(405, {"message": "Method not allowed."})
        elif what == "requests" and arg is None:
            if m == "GET":
                with st.lock:
                    data = [dict(e) for e in st.log]
                self.reply(200, data)
            elif m == "DELETE":
                with st.lock:
                    st.log = []
                    st.conn_ids = set()
                    st.max_concurrent = st.open_connections
                self.reply(200, {})
            else:
                self.reply(405, {"message": "Method not allowed."})
        elif what == "stats" and m == "GET" and arg is None:
            with st.lock:
                data = {"requests": len(st.log),
                        "connections": len(st.conn_ids),
                        "max_concurrent": st.max_concurrent}
            self.reply(200, data)
        elif what == "faults" and arg is None:
            if m == "POST":
                if not isinstance(body, dict):
                    self.reply(400, {"message": "Want a fault rule object."})
                    return
                rule = dict(body)
                rule.setdefault("method", "*")
                rule.setdefault("event", "*")
                with st.lock:
                    st.faults.append(rule)
                self.reply(200, rule)
            elif m == "DELETE":
                with st.lock:
                    st.faults = []
                self.reply(200, {})
            elif m == "GET":
                with st.lock:
                    data = [dict(r) for r in st.faults]
                self.reply(200, data)
            else:
                self.reply(405, {"message": "Method not allowed."})
        elif what == "config" and arg is None:
            if m == "POST":
                if not isinstance(body, dict):
                    self.reply(400, {"message": "Want a settings object."})
                    return
                pe = body.get("post_existing")
                if pe is not None and str(pe) not in ("400", "409", "422",
                                                      "upsert"):
                    self.reply(400, {"message": "Bad post_existing."})
                    return
                with st.lock:
                    for k in ("delay_ms", "skew_seconds", "auth_status"):
                        if k in body:
                            st.config[k] = int(body[k])
                    if pe is not None:
                        st.config["post_existing"] = str(pe)
                    data = dict(st.config)
                self.reply(200, data)
            elif m == "GET":
                with st.lock:
                    data = dict(st.config)
                self.reply(200, data)
            else:
                self.reply(405, {"message": "Method not allowed."})
        else:
            self.reply(404, {"message": "Not found."})

    # -- the PAVE API -------------------------------------------------------

    def api(self, path, raw):
        st = self.server.state
        event = None
        if path == "/v1/callbacks":
            pass
        elif path.startswith("/v1/callbacks/") and len(path) > 14:
            event = urllib.parse.unquote(path[len("/v1/callbacks/"):])
        else:
            self.reply(404, {"message": "Not found."})
            return

        body = None
        body_ok = True
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError:
                body_ok = False
        if self.command == "POST" and event is None and isinstance(body, dict):
            ev = body.get("event")
            log_event = ev if isinstance(ev, str) else None
        else:
            log_event = event

        entry = {"method": self.command, "path": self.path,
                 "event": log_event,
                 "api_key": self.headers.get("API-Key"),
                 "body": body, "status": None, "connection": self.conn_id,
                 "time": time.time()}
        with st.lock:
            st.seq += 1
            entry["seq"] = st.seq
            st.log.append(entry)
            st.conn_ids.add(self.conn_id)
            delay = st.config["delay_ms"]
        if delay:
            time.sleep(delay / 1000.0)
        # reply() records the status it sends; a drop leaves it None.
        self.entry = entry
        self.api_call(path, event, log_event, body, body_ok)

    def authenticate(self):
        """None when the request is signed correctly, else the status."""
        st = self.server.state
        with st.lock:
            status = st.config["auth_status"]
            skew = st.config["skew_seconds"]
        key = self.headers.get("API-Key")
        ts = self.headers.get("API-Timestamp")
        token = self.headers.get("API-Token")
        if not key or not ts or not token:
            return self.reply(status, {"message": "Missing API credentials."})
        when = parse_timestamp(ts)
        if when is None or abs(time.time() - when) > skew:
            return self.reply(status, {"message": "Invalid API timestamp."})
        with st.lock:
            acct = st.accounts.get(key)
        if acct is None or not hmac.compare_digest(
                expected_token(acct[0], acct[1], key, ts).encode(),
                token.strip().encode()):
            return self.reply(status, {"message": "Invalid API credentials."})
        return None

    def find_fault(self, key, event):
        st = self.server.state
        with st.lock:
            for rule in st.faults:
                if rule.get("method", "*") not in ("*", self.command):
                    continue
                rev = rule.get("event", "*")
                if rev != "*" and (event is None or rev != event):
                    continue
                if "api_key" in rule and rule["api_key"] != key:
                    continue
                times = rule.get("times")
                if times is not None:
                    if times <= 0:
                        continue
                    rule["times"] = times - 1
                    if rule["times"] <= 0:
                        st.faults.remove(rule)
                return dict(rule)
        return None

    def api_call(self, path, event, fault_event, body, body_ok):
        status = self.authenticate()
        if status is not None:
            return status
        key = self.headers["API-Key"]
        rule = self.find_fault(key, fault_event)
        if rule is None:
            return self.operate(key, event, body, body_ok, None)[0]

        if rule.get("delay_ms"):
            time.sleep(int(rule["delay_ms"]) / 1000.0)
        faulty = any(rule.get(k) for k in ("drop", "malformed", "oversized",
                                           "status"))
        if not faulty and isinstance(rule.get("echo"), dict):
            status, obj = self.operate(key, event, body, body_ok,
                                       rule.get("drop_field"), send=False)
            return self.reply(status, self.override(obj, rule["echo"]))
        if not faulty:
            return self.operate(key, event, body, body_ok,
                                rule.get("drop_field"))[0]
        status, obj = 200, None
        # Perform the real operation when asked to (or, for an oversized
        # reply to a read, to have the real reply to pad).
        if rule.get("apply") or (rule.get("oversized") and
                                 self.command == "GET"):
            status, obj = self.operate(key, event, body, body_ok,
                                       rule.get("drop_field"), send=False)
        if rule.get("drop"):
            raise Drop()
        if rule.get("malformed"):
            return self.reply(200, raw=b'{"api_key": "' + key.encode() +
                              b'", "data": {"event": ')
        if rule.get("oversized"):
            size = int(rule["oversized"])
            obj = dict(obj) if isinstance(obj, dict) else {"api_key": key}
            base = len(json.dumps(dict(obj, padding="")).encode())
            obj["padding"] = "x" * max(0, size - base)
            return self.reply(200, obj)
        hdrs = {}
        if rule.get("retry_after") is not None:
            hdrs["Retry-After"] = str(rule["retry_after"])
        fbody = rule.get("body")
        if fbody is None:
            fbody = json.dumps({"message": "Injected fault."})
        return self.reply(int(rule["status"]), raw=str(fbody).encode(),
                          headers=hdrs)

    def operate(self, key, event, body, body_ok, drop_field, send=True):
        """Perform the API call; returns (status, reply object) and sends
        the reply unless send is False."""
        st = self.server.state
        m = self.command

        def out(status, obj):
            if send:
                self.reply(status, obj)
            return status, obj

        if not body_ok or (body is not None and not isinstance(body, dict)):
            if m in ("POST", "PUT"):
                return out(400, {"message": "Invalid JSON body."})
            body = None
        if event is None:
            if m == "GET":
                with st.lock:
                    cbs = st.storage.get(key, {})
                    data = [dict(cbs[e]) for e in sorted(cbs)]
                return out(200, {"api_key": key, "data": data})
            if m == "POST":
                body = body or {}
                ev = body.get("event")
                if not isinstance(ev, str) or ev not in EVENTS:
                    return out(400, {"message": "Missing required fields."})
                cb, error = normalise(ev, body)
                if error:
                    return out(400, {"message": error})
                cb = self.without(cb, drop_field)
                with st.lock:
                    cbs = st.storage.setdefault(key, {})
                    mode = st.config["post_existing"]
                    if ev in cbs and mode != "upsert":
                        exists = True
                    else:
                        exists = False
                        cbs[ev] = cb
                if exists:
                    return out(int(mode), {
                        "message": "Callback setting for the event %s "
                                   "already exists." % ev})
                return out(200, dict(cb, api_key=key))
            return out(405, {"message": "Method not allowed."})

        nf = {"api_key": key, "message": not_found_message(event)}
        if m == "GET":
            with st.lock:
                cb = st.storage.get(key, {}).get(event)
                cb = dict(cb) if cb is not None else None
            if cb is None:
                return out(404, nf)
            return out(200, {"api_key": key, "data": cb})
        if m == "PUT":
            cb, error = normalise(event, body or {})
            if error:
                return out(400, {"message": error})
            cb = self.without(cb, drop_field)
            with st.lock:
                cbs = st.storage.setdefault(key, {})
                found = event in cbs
                if found:
                    cbs[event] = cb
            if not found:
                return out(404, nf)
            return out(200, dict(cb, api_key=key))
        if m == "DELETE":
            with st.lock:
                found = st.storage.get(key, {}).pop(event, None) is not None
            if not found:
                return out(404, nf)
            return out(200, {"api_key": key,
                             "message": "Callback setting deleted."})
        return out(405, {"message": "Method not allowed."})

    @staticmethod
    def override(obj, fields):
        """A copy of a reply with `fields` replaced in its callback(s)."""
        if not isinstance(obj, dict):
            return obj
        obj = dict(obj)
        data = obj.get("data")
        if isinstance(data, list):
            obj["data"] = [dict(cb, **fields) if isinstance(cb, dict) else cb
                           for cb in data]
        elif isinstance(data, dict):
            obj["data"] = dict(data, **fields)
        elif "event" in obj:
            obj.update(fields)
        return obj

    @staticmethod
    def without(cb, field):
        if field:
            cb = dict(cb)
            cb.pop(field, None)
        return cb


class Server(ThreadingHTTPServer):
    daemon_threads = True
    # A large listen backlog: with the default of 5 a burst of connects
    # loses SYNs and each lost one stalls its client for 1 s.
    request_queue_size = 1024
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        if self.verbose:
            super().handle_error(request, client_address)


def write_port_file(path, port):
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".port-", dir=d)
    with os.fdopen(fd, "w") as f:
        f.write("%d\n" % port)
    os.replace(tmp, path)


def main(argv=None):
    p = argparse.ArgumentParser(description="Emulate the PAVE callbacks API.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    p.add_argument("--account", action="append",
                   metavar="KEY:SECRET:USERNAME")
    p.add_argument("--delay-ms", type=int, default=0)
    p.add_argument("--skew-seconds", type=int, default=300)
    p.add_argument("--auth-status", type=int, default=401)
    p.add_argument("--post-existing", default="400",
                   choices=["400", "409", "422", "upsert"])
    p.add_argument("--max-connections", type=int, default=None)
    p.add_argument("--idle-timeout", type=float, default=120.0)
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args(argv)

    state = State(args)
    if ":" in args.host:
        Server.address_family = socket.AF_INET6
    server = Server((args.host, args.port), Handler)
    server.state = state
    server.verbose = args.verbose
    server.idle_timeout = args.idle_timeout
    port = server.server_address[1]

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    thread = threading.Thread(target=server.serve_forever,
                              kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    if args.port_file:
        write_port_file(args.port_file, port)
    host = args.host if ":" not in args.host else "[%s]" % args.host
    print("pave-emulator listening on http://%s:%d" % (host, port),
          flush=True)
    while not stop.wait(0.5):
        pass
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
