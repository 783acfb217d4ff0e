#!/usr/bin/python3
"""Every metric the alerting rules and the Grafana dashboard query exists on
a real agent's /metrics, and a real Prometheus evaluates them.

Agents, each with the features whose metrics the assets use:
  A  the demo capture replayed in a loop with the demo rules, a config file
     (-c), EVE and IPFIX exporters and nDPI: traffic, drops, flows, alerts,
     rules, config reloads, export, apps;
  B  a gns3: config against the GNS3 server emulator
     (tests/gns3/gns3_emulator.py): wirescope_gns3_*;
  C  inline AF_PACKET between two network namespaces with a QoS policy PUT
     over the API: wirescope_qos_* (needs root; without it the QoS names are
     only looked up in README.md and api/qos_routes.cc, and the test says so).

Checks:
  1. the tokenizer (promql_names) finds a made-up name and resolves histogram
     suffixes only for histograms;
  2. every wirescope_ name in every rule and dashboard query is a family (or
     a histogram's series) on one of the agents' /metrics; each missing one
     is named with the rule or panel that queries it;
  3. with a real Prometheus (Debian `prometheus`) running
     deploy/prometheus/prometheus.yml (targets and intervals changed for the
     test) and its rule file, scraping A and B:
     - every rule evaluates with health ok and, while the agents are
       healthy, no alert is pending or firing;
     - every dashboard query (Grafana's variables substituted: all jobs and
       instances, 1m rate window) is accepted, and returns series unless it
       only names QoS metrics (C is not scraped);
     - after a refused rule reload (API), a refused config reload (SIGHUP)
       on A and the GNS3 server going away for B, WirescopeRuleReloadFailed
       and WirescopeConfigReloadFailed fire for A and WirescopeGns3BreakerOpen
       is pending or firing for B's server lab1.

usage: monitoring_metrics.py WIRESCOPE GNS3_EMULATOR SOURCE_ROOT
  WS_MON_RULES / WS_MON_DASHBOARD override the asset paths (to try a broken
  copy); WS_MON_NO_INLINE=1 runs without agent C, as without root.
"""
import hashlib
import json
import os
import re
import shutil
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import agent_common as ac  # noqa: E402
import promql_names as pn  # noqa: E402

ADMIN = "monitoring-admin-token"
API_RE = r"api listening on [0-9.]+:(\d+)"


def get(url, token=None, method="GET", data=None):
    req = urllib.request.Request(url, method=method, data=data,
                                 headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError as e:  # not listening (yet)
        return 0, str(e)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd, log, cleanup):
    agent = ac.Background(cmd, log, cleanup)
    ac.wait_for(lambda: re.search(API_RE, agent.output()) or not agent.running(), 30)
    m = re.search(API_RE, agent.output())
    return agent, int(m.group(1)) if m else None


def tokenizer_checks(c):
    names = pn.metric_names('sum by (reason) (rate(wirescope_no_such_metric_total{reason="wirescope_x", '
                            "job=~'wirescope_y'}[5m])) / on() wirescope_flows_capacity")
    c.equal(names, ["wirescope_flows_capacity", "wirescope_no_such_metric_total"],
            "tokenizer: metric names, not label values")
    fams = {"wirescope_burst_processing_seconds": "histogram", "wirescope_packets_total": "counter"}
    c.equal(pn.resolve("wirescope_burst_processing_seconds_bucket", fams), "wirescope_burst_processing_seconds",
            "a histogram's _bucket resolves to its family")
    c.equal(pn.resolve("wirescope_packets_total_count", fams), None, "_count of a counter does not")
    c.equal(pn.resolve("wirescope_no_such_metric_total", fams), None, "a made-up name is missing")


def agent_replay(c, ws, root, tmp, cleanup, udp_port):
    rules = os.path.join(tmp, "demo.rules")
    shutil.copy(os.path.join(root, "deploy", "demo", "demo.rules"), rules)
    conf = os.path.join(tmp, "a.yaml")
    with open(conf, "w") as f:
        f.write(f"""api:
  tokens:
    - {{name: ops, role: admin, token_sha256: "{hashlib.sha256(ADMIN.encode()).hexdigest()}"}}
""")
    os.mkdir(os.path.join(tmp, "a"))
    agent, port = start([ws, "-r", os.path.join(root, "deploy", "demo", "demo.pcap"), "--loop", "-S", rules,
                         "-c", conf, "--api", "127.0.0.1:0", "--ipfix", f"udp://127.0.0.1:{udp_port}",
                         "-l", os.path.join(tmp, "a"), "--workers", "2"], os.path.join(tmp, "a.log"), cleanup)
    c.check(port is not None, "agent A (replay, rules, -c, EVE and IPFIX) starts its API", agent.output()[-2000:])
    return agent, port, rules


def agent_gns3(c, ws, emu_py, tmp, cleanup):
    emu = ac.Background(["/usr/bin/python3", emu_py, "--port", "0", "--control-port", "0"],
                        os.path.join(tmp, "emu.log"), cleanup)
    ac.wait_for(lambda: "PORTS" in emu.output() or not emu.running(), 20)
    m = re.search(r"PORTS (\d+) (\d+)", emu.output())
    if not c.check(m is not None, "the GNS3 emulator starts", emu.output()):
        return None, None, None
    api_port, ctl = int(m.group(1)), int(m.group(2))
    conf = os.path.join(tmp, "b.yaml")
    with open(conf, "w") as f:
        f.write(f"""gns3:
  servers:
    - {{name: lab1, url: "http://127.0.0.1:{api_port}", api: v2, user: admin, password: secret}}
  capture:
    - {{server: lab1, project: "Enterprise Lab", links: all}}
""")
    os.mkdir(os.path.join(tmp, "b"))
    agent, port = start([ws, "-c", conf, "--workers", "1", "--api", "127.0.0.1:0", "-l", os.path.join(tmp, "b")],
                        os.path.join(tmp, "b.log"), cleanup)
    c.check(port is not None, "agent B (GNS3 emulator) starts its API", agent.output()[-2000:])

    def control(path, payload):
        req = urllib.request.Request(f"http://127.0.0.1:{ctl}{path}", method="POST",
                                     data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    return agent, port, control


def agent_qos(c, ws, tmp, cleanup):
    """/metrics text of an inline agent with a QoS policy, or None without root."""
    if os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("ethtool") or os.environ.get("WS_MON_NO_INLINE"):
        print("no root, no ip(8), no ethtool or WS_MON_NO_INLINE: no inline QoS agent")
        return None
    import inline_common as ic

    topo = ic.Topology()
    cleanup.add(topo.remove)
    topo.create()
    qtmp = os.path.join(tmp, "c")
    os.mkdir(qtmp)
    agent, port = ic.start_agent(topo, ws, qtmp, cleanup, ADMIN, 1)
    if not c.check(port is not None, "agent C (inline, QoS) starts its API", agent.output()[-2000:]):
        return None
    policy = {"classes": [{"name": "udp", "match": {"proto": "udp"},
                           "police": {"cir_bps": 2000000, "cbs_bytes": 20000, "pir_bps": 3000000,
                                      "pbs_bytes": 30000, "exceed": "transmit", "violate": "drop"}},
                          {"name": "tcp", "match": {"proto": "tcp"},
                           "shape": {"rate_bps": 20000000, "burst_bytes": 32000}}]}
    st, text = ic.api_call(topo, port, ADMIN, "PUT", "/api/v1/qos/policies/mon", json.dumps(policy))
    c.check(st in (200, 201), f"agent C: PUT /api/v1/qos/policies/mon: {st}", text)
    st, text = ic.api_call(topo, port, ADMIN, "GET", "/metrics")
    c.check(st == 200 and "wirescope_qos_packets_total{" in text, "agent C: /metrics has the QoS families",
            text[-1500:])
    return text


def prometheus_config(root, tmp, rules_path, a_port, b_port):
    """deploy/prometheus/prometheus.yml for the test: 1 s scrapes and
    evaluations, A as the static target, B through file_sd, no
    Alertmanager."""
    import yaml

    with open(os.path.join(root, "deploy", "prometheus", "prometheus.yml")) as f:
        cfg = yaml.safe_load(f)
    cfg["global"].update({"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"})
    cfg.pop("alerting", None)
    pdir = os.path.join(tmp, "prom")
    os.makedirs(os.path.join(pdir, "sd"))
    shutil.copy(rules_path, os.path.join(pdir, os.path.basename(cfg["rule_files"][0])))
    job = next(j for j in cfg["scrape_configs"] if j["job_name"] == "wirescope")
    job["static_configs"][0]["targets"] = [f"127.0.0.1:{a_port}"]
    job["file_sd_configs"][0]["files"] = [os.path.join(pdir, "sd", "*.yml")]
    job["file_sd_configs"][0]["refresh_interval"] = "1s"
    with open(os.path.join(pdir, "sd", "lab.yml"), "w") as f:
        yaml.safe_dump([{"targets": [f"127.0.0.1:{b_port}"], "labels": {"role": "gns3"}}], f)
    path = os.path.join(pdir, "prometheus.yml")
    with open(path, "w") as f:
        yaml.safe_dump(cfg, f)
    return path, pdir


def body(c, cleanup):
    if len(sys.argv) != 4:
        print("usage: monitoring_metrics.py WIRESCOPE GNS3_EMULATOR SOURCE_ROOT", file=sys.stderr)
        sys.exit(2)
    ws, emu_py, root = (os.path.abspath(a) for a in sys.argv[1:])
    try:
        import aiohttp  # noqa: F401  (the emulator's)
        import yaml  # noqa: F401  (the asset files and the Prometheus config)
    except ImportError as e:
        ac.skip(f"{e.name} is not installed")
    rules_path = os.environ.get("WS_MON_RULES") or os.path.join(root, "deploy", "prometheus", "wirescope.rules.yml")
    dash_path = os.environ.get("WS_MON_DASHBOARD") or os.path.join(root, "deploy", "grafana", "dashboards",
                                                                   "wirescope.json")
    exprs = pn.expressions(rules_path, dash_path)
    c.check(len(exprs) > 30, f"{len(exprs)} expressions in the rules and the dashboard")
    tokenizer_checks(c)

    tmp = ac.temp_dir(cleanup, "ws-mon-")
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # the IPFIX collector: takes and ignores
    udp.bind(("127.0.0.1", 0))
    cleanup.add(udp.close)
    a, a_port, demo_rules = agent_replay(c, ws, root, tmp, cleanup, udp.getsockname()[1])
    b, b_port, emu_control = agent_gns3(c, ws, emu_py, tmp, cleanup)
    if a_port is None or b_port is None:
        return

    # GNS3 links up and counted before the scrape, alerts on the replay.
    def scrape(port):
        st, text = get(f"http://127.0.0.1:{port}/metrics")
        return text if st == 200 else ""

    ac.wait_for(lambda: "wirescope_gns3_project_packets_total{" in scrape(b_port), 30, 0.2)
    ac.wait_for(lambda: re.search(r"^wirescope_alerts_total [1-9]", scrape(a_port), re.M), 30, 0.2)
    texts = {"A (replay)": scrape(a_port), "B (GNS3)": scrape(b_port)}
    qos = agent_qos(c, ws, tmp, cleanup)
    if qos is not None:
        texts["C (inline QoS)"] = qos
    families = {}
    for who, text in texts.items():
        f = pn.scrape_families(text)
        c.check(len(f) > 10, f"agent {who}: /metrics has {len(f)} families")
        families.update(f)

    print("-- every queried metric exists")
    missing = []
    for where, expr in exprs:
        for name in pn.metric_names(expr):
            if pn.resolve(name, families):
                continue
            if qos is None and name.startswith("wirescope_qos_"):
                # Without root there is no inline agent: the name must at
                # least be documented and emitted by the QoS metrics code.
                with open(os.path.join(root, "README.md")) as f:
                    readme = f.read()
                with open(os.path.join(root, "api", "qos_routes.cc")) as f:
                    src = f.read()
                # README abbreviates some: "(plus `_police_drops_total`, ...)".
                documented = name in readme or f"`{name[len('wirescope_qos'):]}`" in readme
                if documented and f'"{name}"' in src:
                    print(f"  (no inline agent: {name} checked in README.md and api/qos_routes.cc only)")
                    continue
            missing.append(f"{name} (queried by {where})")
    c.check(not missing, "every wirescope_ metric of the rules and the dashboard is on /metrics",
            "\n".join(missing))

    prometheus = shutil.which("prometheus")
    if not prometheus:
        print("prometheus not installed (Debian package prometheus): the server checks are skipped")
        return
    print("-- a real Prometheus with the shipped config and rules")
    cfg, pdir = prometheus_config(root, tmp, rules_path, a_port, b_port)
    prom = free_port()
    server = ac.Background([prometheus, f"--config.file={cfg}", f"--storage.tsdb.path={pdir}/data",
                            f"--web.listen-address=127.0.0.1:{prom}"], os.path.join(tmp, "prometheus.log"),
                           cleanup)
    base = f"http://127.0.0.1:{prom}/api/v1"

    def api(path, **params):
        st, text = get(f"{base}/{path}?" + urllib.parse.urlencode(params))
        try:
            return json.loads(text)
        except ValueError:
            return {"status": "error", "error": f"{st}: {text[:300]}"}

    def query(expr):
        return api("query", query=expr)

    def scraped_enough():
        r = query('count_over_time(up{job="wirescope"}[1m]) >= 8')
        return r.get("status") == "success" and len(r["data"]["result"]) == 2

    ok = ac.wait_for(lambda: not server.running() or scraped_enough(), 60, 0.5)
    if not c.check(ok and server.running(), "Prometheus scrapes A (static) and B (file_sd) several times",
                   server.output()[-3000:] + json.dumps(query("up"))):
        return
    up = query('up{job="wirescope"}')["data"]["result"]
    c.equal(sorted((r["metric"].get("role"), r["value"][1]) for r in up), [("gns3", "1"), ("sensor", "1")],
            "both targets are up, with the labels of the static and the file_sd target")

    def rules():
        r = api("rules")
        return [x for g in r.get("data", {}).get("groups", []) for x in g["rules"]] if r.get("status") == "success" \
            else []

    ac.wait_for(lambda: rules() and all(x.get("lastEvaluation", "").startswith("20") and
                                        not x["lastEvaluation"].startswith("0001") for x in rules()), 20, 0.5)
    rs = rules()
    n_rules = len(pn.rule_expressions(rules_path))
    c.equal(len(rs), n_rules, "Prometheus loaded every rule of the file")
    bad = [f"{x['name']}: {x.get('health')} {x.get('lastError', '')}" for x in rs if x.get("health") != "ok"]
    c.check(rs and not bad, "every rule evaluates without error", "\n".join(bad))
    active = [f"{x['name']} {x.get('state')}" for x in rs if x.get("state") not in (None, "inactive")]
    c.check(rs and not active, "healthy agents: no alert pending or firing", "\n".join(active))

    print("-- every dashboard query on the real series")
    failed, empty = [], []
    for where, expr in pn.dashboard_expressions(dash_path):
        lv = pn.label_values_query(expr)
        q = pn.substitute(lv if lv is not None else expr)
        r = query(q)
        if r.get("status") != "success":
            failed.append(f"{where}: {q}: {r.get('error')}")
            continue
        names = pn.metric_names(expr)
        if names and all(n.startswith("wirescope_qos_") for n in names):
            continue  # C is in its own namespace, not scraped
        if not r["data"]["result"]:
            empty.append(f"{where}: {q}")
    c.check(not failed, "Prometheus accepts every dashboard query", "\n".join(failed))
    c.check(not empty, "every non-QoS dashboard query returns series", "\n".join(empty))

    print("-- make alerts fire on real agents")
    os.rename(demo_rules, demo_rules + ".away")
    st, text = get(f"http://127.0.0.1:{a_port}/api/v1/rules/reload", ADMIN, "POST", b"")
    c.equal(st, 422, "agent A refuses a rule reload without its rule file", text[:300])
    a.proc.send_signal(ac.signal.SIGHUP)
    emu_control("/_emu/down", {})

    def states():
        out = {}
        for x in rules():
            for al in x.get("alerts", []):
                out.setdefault(x["name"], []).append((al["labels"].get("instance"), al["labels"].get("server"),
                                                      al["state"]))
        return out

    want_a = f"127.0.0.1:{a_port}"
    want_b = f"127.0.0.1:{b_port}"

    def fired():
        s = states()
        return ((want_a, None, "firing") in s.get("WirescopeRuleReloadFailed", []) and
                (want_a, None, "firing") in s.get("WirescopeConfigReloadFailed", []) and
                any(x[:2] == (want_b, "lab1") and x[2] in ("pending", "firing")
                    for x in s.get("WirescopeGns3BreakerOpen", [])))

    ok = ac.wait_for(fired, 90, 0.5)
    c.check(ok, "WirescopeRuleReloadFailed and WirescopeConfigReloadFailed fire for A, WirescopeGns3BreakerOpen "
                "is active for B's lab1", json.dumps(states(), indent=1))
    others = {k: v for k, v in states().items() if k not in (
        "WirescopeRuleReloadFailed", "WirescopeConfigReloadFailed", "WirescopeGns3BreakerOpen",
        "WirescopeGns3ServerUnreachable")}
    c.check(not others, "and no other alert", json.dumps(others))
    emu_control("/_emu/up", {})


if __name__ == "__main__":
    ac.main("monitoring_metrics", body)
