"""End-to-end test of WebSocket /api/v1/stream: the real agent replaying the
demo capture in a loop with the demo rules (so alerts keep coming),
`--api 127.0.0.1:0`, an admin and a viewer token, spoken to with Debian's
python3-websocket.

Checks: the upgrade is refused with 401 (WWW-Authenticate: Bearer) without
a token or with a bad one, and accepted with ?token= and with the header,
for viewer and admin; alerts frames carry EVE alert objects of the demo
rules, flows frames EVE flow events; stats frames come about once a second
with moving counters and rates; top frames list flows largest first; an
unknown topic gets an error frame naming it and the connection stays; the
protobuf format gives binary frames that protoc decodes as wirescope.Event
(or an error frame when the build has no protobuf); a client that never
reads does not stop another from receiving, its drops are counted (status
and the stream's GET) and told to it when it reads again; the client limit
answers 503; the agent exits within 2 s of SIGTERM with clients connected,
the non-reading one included.

usage: ws_stream_agent.py WIRESCOPE DEMO_PCAP DEMO_RULES WIRESCOPE_PROTO
Exit status: 0 pass, 1 fail, 77 skip.
"""

import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

try:
    import websocket  # Debian python3-websocket
except ImportError:
    print("SKIP: python3-websocket is not installed")
    sys.exit(77)

ADMIN, VIEWER = "admin-secret-token", "viewer-secret-token"
DEMO_SIDS = {1000001, 1000002, 1000003, 1000004, 1000005}
MAX_CLIENTS = 6
passed = 0
failures = []


def check(cond, what, detail=""):
    global passed
    print(("  ok   " if cond else "  FAIL ") + what + ("" if cond or not detail else f"\n      {detail}"), flush=True)
    if cond:
        passed += 1
    else:
        failures.append(what)
    return bool(cond)


def sha(s):
    return hashlib.sha256(s.encode()).hexdigest()


def wait_for(cond, timeout, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return cond()


class Agent:
    def __init__(self, ws, args, tmp):
        self.err_path = os.path.join(tmp, "agent.err")
        self.err = open(self.err_path, "w")
        self.p = subprocess.Popen([ws] + args, stdout=subprocess.DEVNULL, stderr=self.err)
        self.port = None
        deadline = time.time() + 20
        while time.time() < deadline and self.p.poll() is None:
            m = re.search(r"wirescope: api listening on ([0-9.]+):(\d+)", open(self.err_path).read())
            if m:
                self.host, self.port = m.group(1), int(m.group(2))
                break
            time.sleep(0.05)
        if self.port is None:
            self.stop()
            raise SystemExit(f"agent did not log its API address:\n{open(self.err_path).read()}")

    def url(self, query=""):
        return f"ws://{self.host}:{self.port}/api/v1/stream" + query

    def get(self, path, token=None, headers=None):
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        c = http.client.HTTPConnection(self.host, self.port, timeout=10)
        c.request("GET", path, headers=h)
        r = c.getresponse()
        body = r.read()
        c.close()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, body

    def stop(self):
        """SIGTERM; returns (exit code, seconds to exit)."""
        t = time.time()
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.err.close()
        return self.p.returncode, time.time() - t


class Reader:
    """A connected client whose frames a thread collects as (time, opcode, payload)."""

    def __init__(self, conn):
        self.conn = conn
        self.frames = []
        self.lock = threading.Lock()
        self.error = None
        self._stop = False
        conn.settimeout(0.2)
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self._stop:
            try:
                op, data = self.conn.recv_data()
            except websocket.WebSocketTimeoutException:
                continue
            except Exception as e:  # closed
                self.error = e
                return
            with self.lock:
                self.frames.append((time.monotonic(), op, data))
            if op == websocket.ABNF.OPCODE_CLOSE:
                return

    def send(self, obj):
        self.conn.send(json.dumps(obj))

    def json_frames(self, topic=None):
        with self.lock:
            out = []
            for t, op, data in self.frames:
                if op != websocket.ABNF.OPCODE_TEXT:
                    continue
                j = json.loads(data)
                if topic is None or j.get("topic") == topic:
                    out.append((t, j))
            return out

    def binary_frames(self):
        with self.lock:
            return [data for _, op, data in self.frames if op == websocket.ABNF.OPCODE_BINARY]

    def count(self, topic):
        return len(self.json_frames(topic))

    def close(self):
        self._stop = True
        self.t.join(timeout=5)
        try:
            self.conn.close(timeout=1)
        except Exception:
            pass


def connect(agent, token=None, via="query", **kw):
    if via == "query":
        return websocket.create_connection(agent.url(f"?token={token}" if token else ""), timeout=10, **kw)
    return websocket.create_connection(agent.url(), header=[f"Authorization: Bearer {token}"], timeout=10, **kw)


def refused(agent, query="", headers=None):
    """(status, headers, body) of an upgrade request the agent answers with an HTTP error."""
    h = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
         "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
    h.update(headers or {})
    return agent.get("/api/v1/stream" + query, headers=h)


def is_error(body, code):
    try:
        j = json.loads(body)
    except ValueError:
        return False
    return set(j) == {"error"} and j["error"].get("code") == code and j["error"].get("message")


def protoc_decode(proto, data):
    """The text form of one wirescope.Event, or None when protoc cannot parse it."""
    protoc = shutil.which("protoc")
    if not protoc:
        return None
    r = subprocess.run([protoc, f"--proto_path={os.path.dirname(proto)}", "--decode=wirescope.Event",
                        os.path.basename(proto)], input=data, capture_output=True, timeout=30)
    return r.stdout.decode() if r.returncode == 0 else None


def main():
    if len(sys.argv) < 5:
        print(__doc__, file=sys.stderr)
        return 2
    ws, pcap, rules, proto = (os.path.abspath(a) for a in sys.argv[1:5])
    if not os.access(ws, os.X_OK):
        print(f"SKIP: {ws} not built")
        return 77
    tmp = tempfile.mkdtemp(prefix="ws-stream-")
    agent = None
    readers = []
    try:
        cfg = os.path.join(tmp, "agent.yaml")
        with open(cfg, "w") as f:
            f.write(f"""api:
  tokens:
    - {{name: ops, role: admin, token_sha256: "{sha(ADMIN)}"}}
    - {{name: grafana, role: viewer, token_sha256: "{sha(VIEWER)}"}}
  rate_limit: {{requests_per_second: 1000, burst: 1000}}
  max_stream_clients: {MAX_CLIENTS}
  stream_queue_frames: 64
""")
        agent = Agent(ws, ["-c", cfg, "-r", pcap, "--loop", "-S", rules, "--api", "127.0.0.1:0", "--workers", "1"],
                      tmp)

        # Refusals, as HTTP answers to the upgrade request.
        st, h, body = refused(agent)
        check(st == 401 and h.get("www-authenticate", "").startswith("Bearer") and is_error(body, 401),
              f"no token: the upgrade is refused with 401 and WWW-Authenticate: Bearer ({st})", body[:200])
        st, h, body = refused(agent, "?token=not-a-token")
        check(st == 401 and "invalid_token" in h.get("www-authenticate", ""),
              f"an unknown ?token=: 401 invalid_token ({st})")
        st, h, body = refused(agent, headers={"Authorization": "Bearer nope"})
        check(st == 401 and "invalid_token" in h.get("www-authenticate", ""),
              f"an unknown Authorization token: 401 invalid_token ({st})")
        try:
            websocket.create_connection(agent.url(), timeout=10).close()
            check(False, "websocket-client without a token is refused")
        except websocket.WebSocketBadStatusException as e:
            check(e.status_code == 401, f"websocket-client without a token is refused with 401 ({e.status_code})")

        # The route without an upgrade: documented and described.
        st, _, body = agent.get("/api/v1/stream", VIEWER)
        info = json.loads(body) if st == 200 else {}
        check(st == 200 and info.get("topics") == ["alerts", "flows", "stats", "top", "gns3", "apps", "hosts", "qos"]
              and info.get("max_clients") == MAX_CLIENTS, f"GET /api/v1/stream without an upgrade: 200 with topics ({st})",
              body[:300])
        st, _, body = agent.get("/api/v1/openapi.json", VIEWER)
        check(st == 200 and "get" in json.loads(body)["paths"].get("/api/v1/stream", {}),
              "openapi.json documents GET /api/v1/stream")

        # A viewer by ?token= on alerts and flows; an unknown topic is named
        # and the connection stays.
        a = Reader(connect(agent, VIEWER, "query"))
        readers.append(a)
        a.send({"subscribe": ["alerts", "flows", "nosuchtopic"]})
        # An admin by the header on stats; a viewer by the header on top.
        b = Reader(connect(agent, ADMIN, "header"))
        readers.append(b)
        b.send({"subscribe": ["stats"]})
        c = Reader(connect(agent, VIEWER, "header"))
        readers.append(c)
        c.send({"subscribe": ["top"]})

        check(wait_for(lambda: a.count("alerts") >= 3 and a.count("flows") >= 3, 20),
              f"the viewer (?token=) receives alerts ({a.count('alerts')}) and flows ({a.count('flows')})")
        errs = a.json_frames("error")
        check(len(errs) == 1 and "'nosuchtopic'" in errs[0][1]["data"]["message"],
              "an unknown topic gets one error frame naming it", str(errs)[:300])
        subs = a.json_frames("subscribed")
        check(len(subs) == 1 and subs[0][1]["data"]["topics"] == ["alerts", "flows"],
              "the subscription is acknowledged with the topics that apply", str(subs)[:300])
        alerts = [j["data"] for _, j in a.json_frames("alerts")]
        bad = [x for x in alerts if x.get("event_type") != "alert" or x.get("alert", {}).get("signature_id") not in DEMO_SIDS
               or not x["alert"].get("signature") or "src_ip" not in x or "flow_id" not in x]
        check(alerts and not bad, f"alerts frames carry EVE alert events of the demo rules ({len(alerts)})",
              json.dumps(bad[:1])[:400])
        flows = [j["data"] for _, j in a.json_frames("flows")]
        bad = [x for x in flows if x.get("event_type") != "flow" or "flow" not in x
               or x["flow"].get("pkts_toserver", 0) + x["flow"].get("pkts_toclient", 0) < 1 or "flow_id" not in x]
        check(flows and not bad, f"flows frames carry EVE flow events ({len(flows)})", json.dumps(bad[:1])[:400])

        # stats about once a second, counters moving.
        t0 = time.monotonic()
        check(wait_for(lambda: b.count("stats") >= 4, 15), f"stats frames arrive ({b.count('stats')})")
        stats = b.json_frames("stats")
        if len(stats) >= 4:
            span = stats[-1][0] - stats[0][0]
            per = span / (len(stats) - 1)
            check(0.5 <= per <= 2.0, f"stats come about once a second ({per:.2f} s apart over {len(stats)} frames)")
            first, last = stats[0][1]["data"], stats[-1][1]["data"]
            check(last["packets"] > first["packets"] > 0 and last["bytes"] > first["bytes"],
                  f"stats counters move ({first['packets']} -> {last['packets']} packets)")
            check(last["rates"]["packets_per_s"] > 0 and last["rates"]["bits_per_s"] > 0
                  and "drops_per_s" in last["rates"] and "drops" in last,
                  f"stats carry rates: {last['rates']}")
            check(last["sources"][0]["packets"] > 0 and "workers" in last and "exporters" in last,
                  "stats carry GET /api/v1/status's counters")
            check(not b.json_frames("flows") and not b.json_frames("alerts"), "a stats-only client gets no events")

        # top every few seconds, largest first.
        check(wait_for(lambda: c.count("top") >= 1, 15), f"top frames arrive ({c.count('top')})")
        tops = c.json_frames("top")
        if tops:
            fl = tops[-1][1]["data"]["flows"]
            sizes = [f["bytes_toserver"] + f["bytes_toclient"] for f in fl]
            check(fl and sizes == sorted(sizes, reverse=True) and all("src_ip" in f for f in fl),
                  f"top lists active flows by bytes, largest first ({sizes[:5]})")

        # Changing the subscription later.
        c.send({"subscribe": ["top", "alerts"]})
        check(wait_for(lambda: c.count("alerts") >= 1, 20), "a later subscribe adds alerts to the top client")

        # protobuf frames.
        p = Reader(connect(agent, VIEWER, "query"))
        readers.append(p)
        p.send({"format": "protobuf", "subscribe": ["flows", "alerts"]})
        wait_for(lambda: p.json_frames("subscribed") or p.json_frames("error"), 10)
        if p.json_frames("error"):
            msg = p.json_frames("error")[0][1]["data"]["message"]
            check("protobuf format not available" in msg, f"no protobuf in this build: an error frame says so ({msg})")
        else:
            check(wait_for(lambda: len(p.binary_frames()) >= 3, 20),
                  f"format protobuf: binary frames ({len(p.binary_frames())})")
            bins = p.binary_frames()
            decoded = protoc_decode(proto, bins[0]) if bins else None
            if decoded is not None or not bins:
                check(decoded is not None and ("flow {" in decoded or "alert {" in decoded),
                      "a binary frame is one wirescope.Event (protoc --decode)", (decoded or "")[:300])
            check(not p.json_frames("flows"), "a protobuf client gets no JSON flows frames")

        # A client that never reads: it must not hold up the others.
        slow = connect(agent, VIEWER, "query", sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),))
        slow.send(json.dumps({"subscribe": ["alerts", "flows", "stats", "top"]}))

        def stream_dropped():
            st, _, body = agent.get("/api/v1/stream", VIEWER)
            return json.loads(body).get("dropped_frames", 0) if st == 200 else 0

        check(wait_for(lambda: stream_dropped() > 0, 60), f"the non-reading client's drops are counted ({stream_dropped()})")
        before = a.count("flows")
        check(wait_for(lambda: a.count("flows") > before + 20, 20),
              f"meanwhile another client keeps receiving ({a.count('flows') - before} more flows)")
        st, _, body = agent.get("/api/v1/status", VIEWER)
        ex = [e for e in json.loads(body)["exporters"] if e["name"] == "stream"]
        check(len(ex) == 1 and ex[0]["dropped_records"] > 0 and ex[0]["state"] == "up",
              f"status lists the stream exporter with its drops ({ex})")
        st, _, body = agent.get("/metrics")
        m = re.search(r'wirescope_export_dropped_records_total\{exporter="stream"\} (\d+)', body.decode())
        check(m and int(m.group(1)) > 0, f"/metrics counts the stream's drops ({m.group(0) if m else None})")

        # The client limit: MAX_CLIENTS are connected now (a, b, c, p, slow
        # and one more); the next upgrade gets 503.
        extra = connect(agent, VIEWER, "query")
        st, h, body = refused(agent, f"?token={VIEWER}")
        check(st == 503 and is_error(body, 503), f"over api.max_stream_clients: 503 ({st})", body[:200])
        extra.close()

        # The slow client reads again: once the socket's backlog is through,
        # it is told what it lost while it did not read — more than a whole
        # queue (stream_queue_frames: 64) at once.
        slow.settimeout(5)
        told = []
        end = time.monotonic() + 30
        while time.monotonic() < end and not any(d["dropped"] > 64 for d in told):
            op, data = slow.recv_data()
            if op == websocket.ABNF.OPCODE_TEXT:
                j = json.loads(data)
                if j.get("topic") == "drops":
                    told.append(j["data"])
        big = [d for d in told if d["dropped"] > 64]
        check(big and big[0]["total"] >= big[0]["dropped"],
              f"the slow client is told its drops when it reads again ({big[:1]}, {len(told)} drops frames)")

        # Stop with clients connected; the slow one has stopped reading again.
        code, secs = agent.stop()
        check(code == 0 and secs < 2.0, f"SIGTERM with stream clients connected: exit 0 within 2 s ({code}, {secs:.2f} s)")
        a.t.join(timeout=5)
        check(a.error is not None or any(op == websocket.ABNF.OPCODE_CLOSE for _, op, _ in a.frames),
              "the clients' connections end with the agent")
        slow.close()
    finally:
        for r in readers:
            r._stop = True
        if agent and agent.p.poll() is None:
            agent.stop()
        if failures:
            try:
                print(open(os.path.join(tmp, "agent.err")).read()[-3000:])
            except OSError:
                pass
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{passed} passed, {len(failures)} failed", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    sys.exit(main())
