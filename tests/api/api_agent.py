"""End-to-end test of the REST API: the real agent replaying the demo
capture with the demo rules, `--api 127.0.0.1:0`, two tokens, spoken to
with http.client.

usage: api_agent.py WIRESCOPE DEMO_PCAP DEMO_RULES
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
import ssl
import subprocess
import sys
import tempfile
import time

ADMIN, VIEWER = "admin-secret-token", "viewer-secret-token"
failures = []


def check(cond, what, detail=""):
    print(("  ok   " if cond else "  FAIL ") + what + ("" if cond or not detail else f"\n      {detail}"), flush=True)
    if not cond:
        failures.append(what)
    return bool(cond)


def sha(s):
    return hashlib.sha256(s.encode()).hexdigest()


def write_config(path, extra=""):
    with open(path, "w") as f:
        f.write(f"""api:
  tokens:
    - {{name: ops, role: admin, token_sha256: "{sha(ADMIN)}"}}
    - {{name: grafana, role: viewer, token_sha256: "{sha(VIEWER)}"}}
{extra}""")


class Agent:
    def __init__(self, ws, args, tmp, name):
        self.err_path = os.path.join(tmp, name + ".err")
        self.err = open(self.err_path, "w")
        self.p = subprocess.Popen([ws] + args, stdout=subprocess.PIPE, stderr=self.err, text=True)
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

    def req(self, method, path, token=None, body=None, headers=None, tls=False):
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        if tls:
            # tls: True (any certificate) or the ssl.SSLContext to verify with.
            ctx = tls if isinstance(tls, ssl.SSLContext) else ssl._create_unverified_context()
            c = http.client.HTTPSConnection(self.host, self.port, timeout=10, context=ctx)
        else:
            c = http.client.HTTPConnection(self.host, self.port, timeout=10)
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data

    def json(self, method, path, token=None, body=None):
        st, h, data = self.req(method, path, token, body)
        return st, h, json.loads(data) if data else None

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


def is_error(body, code):
    return (isinstance(body, dict) and set(body) == {"error"} and body["error"].get("code") == code
            and isinstance(body["error"].get("message"), str) and body["error"]["message"] != "")


def tls_checks(ws, pcap, tmp, openssl, agents):
    crt, key = os.path.join(tmp, "api.crt"), os.path.join(tmp, "api.key")
    other_crt, other_key = os.path.join(tmp, "other.crt"), os.path.join(tmp, "other.key")
    for c, k in ((crt, key), (other_crt, other_key)):
        subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", k, "-out", c,
                        "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True)
    cfg = os.path.join(tmp, "tls.yaml")
    write_config(cfg, f"  tls_cert: {crt}\n  tls_key: {key}\n")
    argv = ["-c", cfg, "-r", pcap, "--loop", "--api", "127.0.0.1:0", "--workers", "1"]
    try:
        t = Agent(ws, argv, tmp, "tls")
    except SystemExit as e:
        check(False, "the agent starts with api.tls_cert/api.tls_key", str(e)[:600])
        return
    agents.append(t)
    verify = ssl.create_default_context(cafile=crt)  # the certificate and its 127.0.0.1 checked

    st, h, body = t.req("GET", "/api/v1/health", tls=verify)
    check(st == 200 and json.loads(body) == {"status": "ok"}, f"HTTPS GET /api/v1/health, certificate verified ({st})")
    versions = []
    for top in (None, ssl.TLSVersion.TLSv1_2):  # what the client offers at most
        ctx = ssl.create_default_context(cafile=crt)
        if top:
            ctx.maximum_version = top
        try:
            with socket.create_connection((t.host, t.port), timeout=10) as raw:
                with ctx.wrap_socket(raw, server_hostname=t.host) as s:
                    versions.append(s.version())
        except OSError as e:
            versions.append(repr(e))
    check(versions == ["TLSv1.3", "TLSv1.2"], f"TLS 1.3, and 1.2 with a client that offers no more ({versions})")
    st, _, body = t.req("GET", "/api/v1/status", VIEWER, tls=verify)
    check(st == 200 and json.loads(body)["running"] is True, f"HTTPS GET /api/v1/status as a viewer: 200 ({st})")
    st, h, body = t.req("GET", "/api/v1/status", tls=verify)
    check(st == 401 and h.get("www-authenticate", "").startswith("Bearer") and is_error(json.loads(body), 401),
          f"HTTPS without a token: 401 with WWW-Authenticate: Bearer ({st}, {h.get('www-authenticate')})")

    # A connection per request (no keep-alive): one handshake each, and
    # civetweb looks at the peer certificate after every one.
    codes = []
    for _ in range(50):
        try:
            codes.append(t.req("GET", "/api/v1/status", VIEWER, tls=verify)[0])
        except (OSError, http.client.HTTPException) as e:
            codes.append(repr(e))
    bad = [c for c in codes if c != 200]
    check(not bad and t.p.poll() is None, f"50 HTTPS requests in a row: all 200, the agent still runs ({len(bad)} not)",
          str(bad[:5]))

    try:
        st = t.req("GET", "/api/v1/health")[0]
    except (OSError, http.client.HTTPException) as e:
        st = type(e).__name__
    check(st != 200 and t.p.poll() is None, f"plain HTTP to the HTTPS port gets no 200 ({st})")

    try:
        import websocket  # Debian python3-websocket
    except ImportError:
        websocket = None
    if check(websocket is not None, "python3-websocket is there for the wss:// check (deploy/setup.sh installs it)"):
        got = []
        try:
            conn = websocket.create_connection(f"wss://{t.host}:{t.port}/api/v1/stream", timeout=10,
                                               sslopt={"cert_reqs": ssl.CERT_NONE},
                                               header=["Authorization: Bearer " + VIEWER])
            try:
                conn.send(json.dumps({"subscribe": ["stats"]}))
                deadline = time.time() + 10
                while time.time() < deadline and not any(g.get("topic") == "stats" for g in got):
                    got.append(json.loads(conn.recv()))
            finally:
                conn.close()
        except Exception as e:  # noqa: BLE001 - any failure of the stream is the finding
            got.append({"exception": repr(e)})
        stats = [g for g in got if g.get("topic") == "stats"]
        check(stats and "packets" in stats[0].get("data", {}),
              f"wss:// /api/v1/stream: a stats frame after subscribing ({[g.get('topic', g) for g in got][:5]})")

    code, secs = t.stop()
    check(code == 0 and secs < 2.0, f"the HTTPS agent: SIGTERM, exit 0 within 2 s (code {code}, {secs:.2f} s)")

    # A key that is not the certificate's: refused at start, naming it.
    bad_cfg = os.path.join(tmp, "tls-mismatch.yaml")
    write_config(bad_cfg, f"  tls_cert: {crt}\n  tls_key: {other_key}\n")
    p = subprocess.run([ws, "-c", bad_cfg] + argv[2:], capture_output=True, text=True, timeout=20)
    check(p.returncode == 1 and "api.tls_key" in p.stderr,
          f"api.tls_key not matching api.tls_cert: exit 1 naming api.tls_key ({p.returncode})", p.stderr[-400:])

    # A binary away from the build tree, where no compatibility object is:
    # refused at start, saying what it looked for and where.
    lone = os.path.join(tmp, "lone", "bin", "wirescope")
    os.makedirs(os.path.dirname(lone))
    shutil.copy(ws, lone)
    p = subprocess.Popen([lone] + argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _, err = p.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        print("  skip: a binary away from the build tree started (an installed compatibility object, or an "
              "OpenSSL that needs none)")
        return
    check(p.returncode == 1 and "api.tls_cert" in err and "libwirescope-ssl-compat.so" in err
          and os.path.join(tmp, "lone", "bin", "../api/") in err,
          f"a binary without the compatibility object: exit 1 naming api.tls_cert and where it looked ({p.returncode})",
          err[-500:])


def main():
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    ws, pcap, rules = (os.path.abspath(a) for a in sys.argv[1:4])
    if not os.access(ws, os.X_OK):
        print(f"SKIP: {ws} not built")
        return 77
    tmp = tempfile.mkdtemp(prefix="ws-api-")
    agents = []
    try:
        rules_copy = os.path.join(tmp, "demo.rules")
        shutil.copy(rules, rules_copy)
        cfg = os.path.join(tmp, "agent.yaml")
        write_config(cfg, "  max_body_bytes: 1024\n  rate_limit: {requests_per_second: 1000, burst: 1000}\n")

        routes = []
        for line in subprocess.run([ws, "--list-routes"], capture_output=True, text=True, check=True).stdout.splitlines():
            method, path, access = line.split()
            routes.append((method, path, access))
        check(len(routes) >= 7, f"--list-routes lists the router's {len(routes)} routes")

        a = Agent(ws, ["-c", cfg, "-r", pcap, "--loop", "-S", rules_copy, "--api", "127.0.0.1:0",
                       "--workers", "1", "-l", tmp], tmp, "main")
        agents.append(a)
        check(a.port > 0, f"the agent bound a port for 127.0.0.1:0 ({a.port})")

        # Every route of the router is in the OpenAPI document.
        st, _, doc = a.json("GET", "/api/v1/openapi.json", VIEWER)
        check(st == 200 and doc["openapi"].startswith("3."), "GET /api/v1/openapi.json is an OpenAPI 3 document")
        missing = [f"{m} {p}" for m, p, _ in routes if m.lower() not in doc.get("paths", {}).get(p, {})]
        check(not missing, "every route of the router is in openapi.json", f"missing: {missing}")
        documented = sum(len(v) for v in doc["paths"].values())
        check(documented == len(routes), f"openapi.json documents no route the router lacks ({documented})")

        # Auth matrix over every route.
        # The rule routes get a body: POST one that adds nothing, PUT one with
        # an invalid rule (400 with its report: the handler ran, the set stays).
        bodies = {("POST", "/api/v1/rules"): b"# nothing to add\n",
                  ("PUT", "/api/v1/rules"): b'alert udp any any -> any any (msg:"x" sid:1;)\n'}
        # Routes of parts this agent runs without answer from their handler
        # with their documented error: traffic control needs inline mode
        # (503), GNS3 captures a gns3: config (the {id} project is unknown:
        # 404; starting or stopping a capture: 503).
        def handler_status(method, path):
            if path.startswith("/api/v1/qos/"):
                return 503
            if path == "/api/v1/gns3/projects/{id}/links":
                return 404
            if path == "/api/v1/gns3/projects/{id}/capture":
                return 503
            return 200

        for method, path, access in routes:
            body = bodies.get((method, path))
            want = handler_status(method, path)
            st0, h0, b0 = a.req(method, path, body=body)
            stv, _, bv = a.req(method, path, VIEWER, body=body)
            sta, _, ba = a.req(method, path, ADMIN, body=body)
            stx, hx, _ = a.req(method, path, "not-a-token", body=body)

            if access == "open":
                check(st0 == 200, f"{method} {path}: open without a token ({st0})")
            else:
                check(st0 == 401 and h0.get("www-authenticate", "").startswith("Bearer")
                      and is_error(json.loads(b0), 401),
                      f"{method} {path}: no token gives 401 with WWW-Authenticate: Bearer ({st0})")
                check(stx == 401 and "invalid_token" in hx.get("www-authenticate", ""),
                      f"{method} {path}: an unknown token gives 401 ({stx})")
            if access == "admin":
                check(stv == 403 and is_error(json.loads(bv), 403), f"{method} {path}: viewer gives 403 ({stv})")
            else:
                check(stv == want and (want == 200 or is_error(json.loads(bv), want)),
                      f"{method} {path}: viewer allowed ({stv}, the handler's answer {want})", bv[:300])
            if (method, path) == ("PUT", "/api/v1/rules"):
                rep = json.loads(ba) if ba else {}
                check(sta == 400 and rep.get("error", {}).get("details", {}).get("failures"),
                      f"{method} {path}: admin reaches the handler (400 with the invalid rule's report)", ba[:300])
            else:
                check(sta == want and (want == 200 or is_error(json.loads(ba), want)),
                      f"{method} {path}: admin allowed ({sta}, the handler's answer {want})", ba[:300])

        # 404, 405, 413, malformed JSON.
        st, _, b = a.json("GET", "/api/v1/nothing-here", ADMIN)
        check(st == 404 and is_error(b, 404), f"unknown path: 404 with the error shape ({st})")
        st, h, b = a.json("DELETE", "/api/v1/rules", ADMIN)
        check(st == 405 and h.get("allow") == "GET, POST, PUT" and is_error(b, 405),
              f"DELETE /api/v1/rules: 405, Allow: GET, POST, PUT ({st})")
        st, h, b = a.json("GET", "/api/v1/rules/reload", ADMIN)
        check(st == 405 and h.get("allow") == "POST", f"GET /api/v1/rules/reload: 405, Allow: POST ({st})")
        st, _, b = a.json("POST", "/api/v1/rules/reload", ADMIN, body=b"{" + b" " * 2048 + b"}")
        check(st == 413 and is_error(b, 413), f"a 2 KiB body over max_body_bytes 1024: 413 ({st})")
        st, _, b = a.json("POST", "/api/v1/rules/reload", ADMIN, body=b'{"strict": tru')
        check(st == 400 and is_error(b, 400), f"malformed JSON: 400 ({st})")
        st, _, b = a.json("POST", "/api/v1/rules/reload", ADMIN, body=b'{"bogus": 1}')
        check(st == 400 and "bogus" in b["error"]["message"], f"unknown field: 400 naming it ({st})")

        # Health, ready, metrics.
        st, h, b = a.json("GET", "/api/v1/health")
        check(st == 200 and b == {"status": "ok"}, "GET /api/v1/health: 200 {\"status\":\"ok\"}")
        st, _, b = a.json("GET", "/api/v1/ready", VIEWER)
        check(st == 200, f"GET /api/v1/ready: 200 while the replay runs ({st})")
        st, h, _ = a.req("GET", "/metrics")
        check(st == 200 and h.get("content-type", "").startswith("text/plain; version=0.0.4"),
              f"GET /metrics: text/plain; version=0.0.4 ({h.get('content-type')})")

        # Status numbers move.
        st, _, s1 = a.json("GET", "/api/v1/status", VIEWER)
        time.sleep(0.5)
        st2, _, s2 = a.json("GET", "/api/v1/status", VIEWER)
        check(st == 200 and st2 == 200, "GET /api/v1/status: 200")
        check(s1["version"] and s2["uptime_s"] > s1["uptime_s"], f"uptime grows ({s1['uptime_s']} -> {s2['uptime_s']})")
        check(len(s2["sources"]) == 1 and s2["sources"][0]["packets"] > s1["sources"][0]["packets"] > 0,
              f"source packets move ({s1['sources'][0]['packets']} -> {s2['sources'][0]['packets']})")
        check(set(s2["sources"][0]["drops"]) == {"kernel", "interface", "truncated_record", "unsupported_link"},
              "source drop counters by reason")
        check(len(s2["workers"]) == 1 and s2["workers"][0]["packets"] > 0, "one worker, counting packets")
        ft = s2["flow_table"]
        check(ft["capacity"] > 0 and 0 < ft["active"] <= ft["capacity"], f"flow-table fill {ft}")
        eve = [e for e in s2["exporters"] if e["name"] == "eve"]
        check(len(eve) == 1 and eve[0]["state"] == "up", f"the EVE exporter is up: {s2['exporters']}")
        check(s2["records_exported"] >= s1["records_exported"] and s2["records_exported"] > 0,
              f"records exported move ({s1['records_exported']} -> {s2['records_exported']})")
        if eve:
            check(eve[0]["records"] > 0, f"the EVE exporter's records ({eve[0]['records']})")

        # Rules and reload.
        st, _, r = a.json("GET", "/api/v1/rules", VIEWER)
        check(st == 200 and r["loaded"] == 5 and r["failed"] == 0 and r["failures"] == [],
              f"GET /api/v1/rules: loaded=5 failed=0 ({r.get('loaded')}, {r.get('failed')})")
        gen = r["generation"]
        st, _, r = a.json("POST", "/api/v1/rules/reload", ADMIN)
        check(st == 200 and r["loaded"] == 5 and r["generation"] > gen,
              f"POST /api/v1/rules/reload: 200, a new generation ({gen} -> {r.get('generation')})")
        gen = r["generation"]
        broken_line = sum(1 for _ in open(rules_copy)) + 1
        with open(rules_copy, "a") as f:
            f.write('alert tcp any any -> any any (msg:"broken"; nosuchkeyword; sid:990001; rev:1;)\n')
        st, _, b = a.json("POST", "/api/v1/rules/reload", ADMIN, body=b'{"strict": true}')
        check(st == 422 and is_error({"error": {k: v for k, v in b["error"].items() if k != "details"}}, 422)
              and b["error"]["details"]["failed"] == 1
              and b["error"]["details"]["failures"][0]["sid"] == 990001,
              f"a strict reload with a broken rule: 422 with the report ({st})", json.dumps(b)[:400])
        st, _, r = a.json("GET", "/api/v1/rules", VIEWER)
        check(r["loaded"] == 5 and r["generation"] == gen and r["last_reload_error"],
              f"the running rules stay and the reason is kept ({r.get('last_reload_error')})")
        st, _, r = a.json("POST", "/api/v1/rules/reload", ADMIN, body=b'{"strict": false}')
        check(st == 200 and r["loaded"] == 5 and r["failed"] == 1 and r["failures"][0]["line"] == broken_line
              and r["failures"][0]["file"].endswith("demo.rules") and r["failures"][0]["keyword"],
              f"a lenient reload loads the good rules and lists the failure ({st})", json.dumps(r)[:400])

        code, secs = a.stop()
        check(code == 0 and secs < 2.0, f"SIGTERM with the API up: exit 0 within 2 s (code {code}, {secs:.2f} s)")

        # Rate limit.
        cfg2 = os.path.join(tmp, "limited.yaml")
        write_config(cfg2, "  rate_limit: {requests_per_second: 0.5, burst: 2}\n")
        b = Agent(ws, ["-c", cfg2, "-r", pcap, "--loop", "--api", "127.0.0.1:0", "--workers", "1"], tmp, "limited")
        agents.append(b)
        got = [b.req("GET", "/api/v1/health") for _ in range(3)]
        check([g[0] for g in got[:2]] == [200, 200], "within the burst: 200")
        st, h, body = got[2]
        check(st == 429 and int(h.get("retry-after", "0")) >= 1 and is_error(json.loads(body), 429),
              f"over the rate: 429 with Retry-After ({st}, {h.get('retry-after')})")
        b.stop()

        # HTTPS: civetweb 1.15 with this platform's OpenSSL (3 on Debian 12,
        # through the compatibility objects api/tls_compat*.c).
        openssl = shutil.which("openssl")
        if check(openssl, "the openssl tool makes the test certificates (deploy/setup.sh installs it)"):
            tls_checks(ws, pcap, tmp, openssl, agents)
    finally:
        for ag in agents:
            if ag.p.poll() is None:
                ag.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{len(failures)} failed" if failures else "all passed", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    sys.exit(main())
