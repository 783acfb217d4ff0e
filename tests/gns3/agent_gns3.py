#!/usr/bin/python3
"""The agent on GNS3 link captures, end to end, against the GNS3 server
emulator (tests/gns3/gns3_emulator.py):

  - a config naming two projects of one v2 server (Basic auth) captures all
    their links; traffic injected on one link of "Enterprise Lab" shows in
    GET /api/v1/gns3/projects for that project (packets, has_traffic, active
    flows) and not for "Branch Lab";
  - GET /api/v1/flows?project=... filters by project name and id, and the
    flows carry the gns3 labels with the link's node names;
  - the server goes away mid-stream: the breaker opens (API and metric) and
    closes again once the server is back; frames injected after it returns
    are captured too, none twice;
  - capture routes: a viewer gets 403, an admin stops a project's capture;
  - after SIGTERM eve.json holds the flows with their gns3 object.

usage: agent_gns3.py WIRESCOPE EMULATOR
"""
import hashlib
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import agent_common as ac  # noqa: E402
import agent_proto as ap  # noqa: E402

PROTO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "telemetry", "wirescope.proto")

ADMIN, VIEWER = "gns3-admin-token", "gns3-viewer-token"


def http(port, method, path, token=ADMIN, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            text = r.read().decode()
            return r.status, (json.loads(text) if text.strip().startswith(("{", "[")) else text)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def body(c, cleanup):
    if len(sys.argv) < 3:
        print("usage: agent_gns3.py WIRESCOPE EMULATOR", file=sys.stderr)
        sys.exit(2)
    ws, emu_py = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        ac.skip("python3-aiohttp is not installed")
    tmp = ac.temp_dir(cleanup, "ws-gns3-")

    emu_log = os.path.join(tmp, "emu.log")
    emu = ac.Background(["/usr/bin/python3", emu_py, "--port", "0", "--control-port", "0"], emu_log, cleanup)
    ac.wait_for(lambda: "PORTS" in emu.output() or not emu.running(), 20)
    m = re.search(r"PORTS (\d+) (\d+)", emu.output())
    if not c.check(m is not None, "the emulator starts", emu.output()):
        return
    api_port, ctl = int(m.group(1)), int(m.group(2))

    def control(path, payload=None):
        req = urllib.request.Request(f"http://127.0.0.1:{ctl}{path}", method="POST" if payload is not None else "GET",
                                     data=json.dumps(payload).encode() if payload is not None else None,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    state = control("/_emu/state")
    ent = next(p for p in state["projects"] if p["name"] == "Enterprise Lab")
    branch = next(p for p in state["projects"] if p["name"] == "Branch Lab")
    link = next(l for l in ent["links"] if l["nodes"] == ["R1", "SW1"])

    conf = os.path.join(tmp, "ws.yaml")
    with open(conf, "w") as f:
        f.write(f"""gns3:
  servers:
    - {{name: lab1, url: "http://127.0.0.1:{api_port}", api: v2, user: admin, password: secret}}
  capture:
    - {{server: lab1, project: "Enterprise Lab", links: all}}
    - {{server: lab1, project: "{branch['project_id']}", links: all}}
api:
  tokens:
    - {{name: ops, role: admin, token_sha256: "{hashlib.sha256(ADMIN.encode()).hexdigest()}"}}
    - {{name: dash, role: viewer, token_sha256: "{hashlib.sha256(VIEWER.encode()).hexdigest()}"}}
""")
    log = os.path.join(tmp, "agent.log")
    collector = ap.Collector(cleanup)  # protobuf events (--export-proto)
    agent = ac.Background([ws, "-c", conf, "--workers", "2", "--api", "127.0.0.1:0", "-l", tmp,
                           "--export-proto", f"tcp://127.0.0.1:{collector.port}"], log, cleanup)
    ac.wait_for(lambda: re.search(r"api listening on [0-9.]+:(\d+)", agent.output()) or not agent.running(), 20)
    m = re.search(r"api listening on [0-9.]+:(\d+)", agent.output())
    if not c.check(m is not None, "the agent starts on the gns3: config with its API", agent.output()):
        return
    port = int(m.group(1))

    def projects():
        st, j = http(port, "GET", "/api/v1/gns3/projects", VIEWER)
        return {p["name"]: p for p in j["projects"]} if st == 200 else {}

    ok = ac.wait_for(lambda: all(p.get("links_capturing", 0) == p.get("links", -1) and p.get("links", 0) > 0
                                 for p in projects().values()) and len(projects()) == 2, 30, 0.2)
    c.check(ok, "both projects' links are captured", json.dumps(projects()))

    print("-- traffic on one project")
    control("/_emu/inject", {"project_id": ent["project_id"], "link_id": link["link_id"],
                             "generate": {"count": 200, "size": 200, "src": "10.1.0.1", "dst": "10.1.0.2",
                                          "sport": 40000, "dport": 9000}})
    ok = ac.wait_for(lambda: projects().get("Enterprise Lab", {}).get("packets", 0) >= 200, 20, 0.2)
    p = projects()
    c.check(ok, "Enterprise Lab counts the 200 frames", json.dumps(p))
    c.check(p.get("Enterprise Lab", {}).get("has_traffic") is True, "Enterprise Lab has_traffic", json.dumps(p))
    c.check(p.get("Branch Lab", {}).get("packets") == 0 and p.get("Branch Lab", {}).get("has_traffic") is False,
            "Branch Lab has none", json.dumps(p.get("Branch Lab")))
    ok = ac.wait_for(lambda: projects().get("Enterprise Lab", {}).get("active_flows", 0) >= 1, 10, 0.3)
    c.check(ok, "Enterprise Lab shows its active flow", json.dumps(projects().get("Enterprise Lab")))

    st, j = http(port, "GET", "/api/v1/flows?project=" + urllib.parse.quote("Enterprise Lab"), VIEWER)
    flows = j.get("flows", []) if st == 200 else []
    c.check(len(flows) == 1 and flows[0].get("gns3", {}).get("nodes") == ["R1", "SW1"]
            and flows[0]["gns3"].get("server") == "lab1" and flows[0]["gns3"].get("link_id") == link["link_id"],
            "GET /flows?project=Enterprise Lab: the flow with its gns3 labels", json.dumps(j)[:1500])
    st, j = http(port, "GET", "/api/v1/flows?project=" + ent["project_id"], VIEWER)
    c.check(st == 200 and len(j.get("flows", [])) == 1, "project= also takes the project id", json.dumps(j)[:500])
    st, j = http(port, "GET", "/api/v1/flows?project=" + urllib.parse.quote("Branch Lab"), VIEWER)
    c.check(st == 200 and j.get("flows") == [], "GET /flows?project=Branch Lab: none", json.dumps(j)[:500])

    print("-- the server goes away and comes back")

    def breaker():
        st, j = http(port, "GET", "/api/v1/gns3/servers", VIEWER)
        return j["servers"][0]["breaker"] if st == 200 and j.get("servers") else None

    def metric_breaker():
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            for line in r.read().decode().splitlines():
                if line.startswith('wirescope_gns3_breaker_state{') and 'server="lab1"' in line:
                    return float(line.split()[-1])
        return None

    c.equal(breaker(), "closed", "the breaker is closed while the server answers")
    control("/_emu/down", {})
    ok = ac.wait_for(lambda: breaker() == "open", 40, 0.3)
    c.check(ok, "the breaker opens while the server is gone", str(breaker()))
    c.equal(metric_breaker(), 2.0, "wirescope_gns3_breaker_state{server=\"lab1\"} is 2 (open)")
    c.check(agent.running(), "the agent keeps running")
    control("/_emu/up", {})
    ok = ac.wait_for(lambda: breaker() == "closed", 60, 0.5)
    c.check(ok, "the breaker closes again once the server is back", str(breaker()))
    c.equal(metric_breaker(), 0.0, "and the metric says closed")
    ok = ac.wait_for(lambda: all(p.get("links_capturing", 0) == p.get("links", -1) for p in projects().values()), 30,
                     0.3)
    c.check(ok, "the captures run again", json.dumps(projects()))
    control("/_emu/inject", {"project_id": ent["project_id"], "link_id": link["link_id"],
                             "generate": {"count": 50, "size": 200, "src": "10.1.0.3", "dst": "10.1.0.4",
                                          "sport": 40001, "dport": 9001, "seq0": 1000}})
    ok = ac.wait_for(lambda: projects().get("Enterprise Lab", {}).get("packets", 0) >= 250, 20, 0.2)
    c.equal(projects().get("Enterprise Lab", {}).get("packets"), 250,
            "frames after the return are captured, none twice (200 + 50)")

    print("-- capture routes")
    st, _ = http(port, "DELETE", f"/api/v1/gns3/projects/{branch['project_id']}/capture", VIEWER)
    c.equal(st, 403, "a viewer may not stop a capture")
    st, j = http(port, "DELETE", f"/api/v1/gns3/projects/{branch['project_id']}/capture", ADMIN)
    c.check(st in (200, 202, 204), f"an admin stops Branch Lab's capture: {st}", str(j))
    ok = ac.wait_for(lambda: projects().get("Branch Lab", {}).get("links_capturing", 1) == 0, 20, 0.3)
    c.check(ok, "Branch Lab captures nothing now", json.dumps(projects().get("Branch Lab")))
    st, j = http(port, "POST", f"/api/v1/gns3/projects/{branch['project_id']}/capture", ADMIN)
    c.check(st in (200, 201, 202), f"and starts it again: {st}", str(j))

    print("-- config reload")
    # The GNS3 input is built once: a reload that changes it says a restart
    # is needed and keeps capturing as before.
    with open(conf) as f:
        text = f.read()
    with open(conf, "w") as f:
        f.write(text.replace(f"""    - {{server: lab1, project: "{branch['project_id']}", links: all}}\n""", ""))

    def config_status():
        st, j = http(port, "GET", "/api/v1/status", VIEWER)
        return j.get("config", {}) if st == 200 else {}

    agent.proc.send_signal(ac.signal.SIGHUP)
    ok = ac.wait_for(lambda: config_status().get("reloads_ok") == 1, 20, 0.2)
    cs = config_status()
    c.check(ok and cs.get("restart_needed") == ["gns3.capture"],
            "a reload without Branch Lab's capture says gns3.capture needs a restart", json.dumps(cs))
    c.equal(sorted(projects()), ["Branch Lab", "Enterprise Lab"], "both projects stay until the restart")

    rc, secs = agent.stop(ac.signal.SIGTERM, 15)
    c.equal(rc, 0, f"the agent exits 0 after SIGTERM ({secs:.2f} s)", agent.output()[-2000:])
    records, errors = ac.read_eve(os.path.join(tmp, "eve.json"))
    c.equal(errors, [], "eve.json parses")
    labelled = [r for r in records if r.get("event_type") == "flow" and r.get("gns3")]
    pk = sum(r["flow"]["pkts_toserver"] + r["flow"]["pkts_toclient"] for r in labelled)
    c.equal(pk, 250, "EVE flows from the capture hold all 250 frames")
    c.check(labelled and all(r["gns3"].get("project") == "Enterprise Lab" and r["gns3"].get("nodes") == ["R1", "SW1"]
                             and r["gns3"].get("project_id") == ent["project_id"] for r in labelled),
            "every one carries gns3 {server, project_id, project, link_id, nodes}", json.dumps(labelled[:2]))

    print("-- protobuf events")
    protoc = ac.shutil.which("protoc")
    if c.check(protoc, "protoc is installed (protobuf-compiler)") and c.check(collector.wait(), "the stream closed"):
        messages, _ = ap.split_varint_stream(collector.data)
        decoded = [ap.parse_text_format(out) for rc, out, _ in
                   ap.decode_all(protoc, os.path.dirname(PROTO), PROTO, messages) if rc == 0]
        flows = [ap.one(e, "flow") for e in decoded if "flow" in e]
        want = {"server": "lab1", "project_id": ent["project_id"], "project": "Enterprise Lab",
                "link_id": link["link_id"]}

        def gns3_of(f):
            g = ap.one(f, "gns3") or {}
            d = {k: ap.one(g, k, b"").decode() for k in want}
            d["nodes"] = [n.decode() for n in g.get("nodes", [])]
            return d

        pk = sum(ap.one(f, "pkts_toserver", 0) + ap.one(f, "pkts_toclient", 0) for f in flows)
        c.equal(pk, 250, "protobuf flow events hold all 250 frames")
        c.check(flows and all(gns3_of(f) == {**want, "nodes": ["R1", "SW1"]} for f in flows),
                "every protobuf flow event carries its Gns3Link (server, project_id, project, link_id, nodes)",
                str([gns3_of(f) for f in flows[:2]]))


if __name__ == "__main__":
    ac.main("agent_gns3", body)
