#!/usr/bin/python3
"""Host mode (qos.mode: tc) end to end, against the kernel (needs root).

    ns C (client, the agent)                  ns S (server)
    c0 10.78.N.1 ============ veth ============ s0 10.78.N.2
    wirescope -i c0, qos.mode: tc, qos.interface: c0

The agent captures on c0 (a sensor that is not in the path) and shapes
c0's egress through netlink. Real iperf3 TCP from C to S:
  - free; then PUT a shape policy of 20 Mbit/s on dst_port 5201: measured
    within ±15%, `tc -s class show dev c0` shows the class at rate 20Mbit
    with packets counted, and GET /api/v1/qos/stats and /metrics agree with
    tc's counters; DELETE: free again and no HTB left on c0;
  - a policy with police is refused (400) with the reason this kernel
    gives (no act_police), and the tree and the store are unchanged;
  - a root qdisc someone else puts in place is never replaced or deleted:
    the change answers 500 and their qdisc stays;
  - SIGHUP with changed qos.policies reports them as a restart key;
  - SIGTERM removes the tree; qos.policies in the config file are installed
    at start; a start on an interface with someone else's root qdisc is
    refused, and a tree a killed agent left is taken away at the next start.
"""
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agent_common as ac  # noqa: E402

ADMIN = "tc-admin-token"
SHAPE = {"classes": [{"name": "iperf", "match": {"proto": "tcp", "dst_port": 5201},
                      "shape": {"rate_bps": 20000000, "burst_bytes": 32000}}]}


class Net:
    def __init__(self, cleanup):
        tag = f"{os.getpid() % 100000}"
        self.c, self.s = f"wstcC{tag}", f"wstcS{tag}"
        n = 10 + os.getpid() % 240
        self.c_ip, self.s_ip = f"10.78.{n}.1", f"10.78.{n}.2"
        ac.remove_stale_namespaces("wstcC")
        ac.remove_stale_namespaces("wstcS")
        ac.make_netns(self.c, cleanup)
        ac.make_netns(self.s, cleanup)
        ac.sh(["ip", "link", "add", "c0", "netns", self.c, "type", "veth", "peer", "name", "s0", "netns", self.s])
        self.ns(self.c, ["ip", "addr", "add", self.c_ip + "/24", "dev", "c0"])
        self.ns(self.s, ["ip", "addr", "add", self.s_ip + "/24", "dev", "s0"])
        self.ns(self.c, ["ip", "link", "set", "c0", "up"])
        self.ns(self.s, ["ip", "link", "set", "s0", "up"])

    def ns(self, ns, cmd, check=True):
        return ac.sh(["ip", "netns", "exec", ns] + cmd, check)

    def tc(self, *args):
        return self.ns(self.c, ["tc"] + list(args))


def config(path, policies=None):
    text = f"""api:
  tokens:
    - {{name: ops, role: admin, token_sha256: "{hashlib.sha256(ADMIN.encode()).hexdigest()}"}}
  rate_limit: {{requests_per_second: 1000, burst: 1000}}
qos:
  mode: tc
  interface: c0
"""
    if policies:
        text += "  policies:\n"
        for name, body in policies.items():
            text += f"    {name}: {json.dumps(body)}\n"
    with open(path, "w") as f:
        f.write(text)
    return path


def start(net, ws, conf, tmp, cleanup, log="agent.log"):
    agent = ac.Background(["ip", "netns", "exec", net.c, ws, "-c", conf, "-i", "c0", "--workers", "1", "--api",
                           "127.0.0.1:0"], os.path.join(tmp, log), cleanup)
    pattern = r"api listening on [0-9.]+:(\d+)"
    ac.wait_for(lambda: re.search(pattern, agent.output()) or not agent.running(), 30)
    m = re.search(pattern, agent.output())
    return agent, int(m.group(1)) if m else None


def api(net, port, method, path, data=None):
    """One request from inside ns C, where the API listens: (status, body text)."""
    body = data.encode() if data is not None else None
    code = ("import urllib.request,sys\n"
            f"r=urllib.request.Request('http://127.0.0.1:{port}{path}',method='{method}',data={body!r},"
            f"headers={{'Authorization':'Bearer {ADMIN}','Content-Type':'application/json'}})\n"
            "try:\n  x=urllib.request.urlopen(r,timeout=20);print(x.status);print(x.read().decode())\n"
            "except urllib.error.HTTPError as e:\n  print(e.code);print(e.read().decode())\n")
    out = net.ns(net.c, [sys.executable, "-c", code])
    st, _, rest = out.partition("\n")
    return int(st), rest


def iperf(net, t=4):
    r = subprocess.run(["ip", "netns", "exec", net.c, "iperf3", "-c", net.s_ip, "-p", "5201", "-t", str(t), "-J"],
                       capture_output=True, text=True, timeout=120)
    try:
        return json.loads(r.stdout)["end"]["sum_received"]["bits_per_second"], r.stderr
    except (json.JSONDecodeError, KeyError):
        return 0, r.stdout[-2000:] + r.stderr


def class_counts(show, classid):
    """(rate text, packets, bytes) of one class in `tc -s class show` output, or None."""
    m = re.search(r"class htb " + re.escape(classid) + r" .*? rate (\S+) .*?\n Sent (\d+) bytes (\d+) pkt", show,
                  re.S)
    return (m.group(1), int(m.group(3)), int(m.group(2))) if m else None


def htb_roots(net):
    return [l for l in net.tc("qdisc", "show", "dev", "c0").splitlines() if l.startswith("qdisc htb")]


def body(c, cleanup):
    ac.need_root("network namespaces and tc")
    for p in ("ip", "tc", "iperf3"):
        ac.need_program(p)
    ws, _ = ac.programs()
    tmp = ac.temp_dir(cleanup, "ws-qos-tc-")
    net = Net(cleanup)
    ac.Background(["ip", "netns", "exec", net.s, "iperf3", "-s", "-p", "5201"], os.path.join(tmp, "iperf3-s.log"),
                  cleanup)
    conf = config(os.path.join(tmp, "ws.yaml"))
    agent, port = start(net, ws, conf, tmp, cleanup)
    if not c.check(port is not None, "agent starts with qos.mode: tc on c0 and the API", agent.output()):
        return
    c.check(not htb_roots(net), "no tree on c0 before the first policy", net.tc("qdisc", "show", "dev", "c0"))

    print("-- shaping")
    free, err = iperf(net)
    c.check(free > 60e6, f"iperf3 TCP free: {free / 1e6:.0f} Mbit/s (well above the shaped rate)", err)
    st, text = api(net, port, "PUT", "/api/v1/qos/policies/lab", json.dumps(SHAPE))
    c.check(st == 200, f"PUT /api/v1/qos/policies/lab (shape 20 Mbit/s on dst_port 5201): {st}", text)
    qdiscs = net.tc("qdisc", "show", "dev", "c0")
    c.check(re.search(r"qdisc htb 1: root .*default 0xfffe", qdiscs), "tc qdisc show: our HTB root 1:", qdiscs)
    shaped, err = iperf(net, t=6)
    c.check(17e6 <= shaped <= 23e6, f"iperf3 TCP shaped: {shaped / 1e6:.1f} Mbit/s (20 ±15%)", err)

    show1 = net.tc("-s", "class", "show", "dev", "c0")
    st, text = api(net, port, "GET", "/api/v1/qos/stats")
    show2 = net.tc("-s", "class", "show", "dev", "c0")
    k1, k2 = class_counts(show1, "1:100"), class_counts(show2, "1:100")
    c.check(k1 is not None and k1[0] == "20Mbit" and k1[1] > 1000,
            f"tc -s class show dev c0: class 1:100 at rate 20Mbit with packets counted ({k1})", show1)
    stats = json.loads(text) if st == 200 else {}
    cls = (stats.get("policies") or [{}])[0].get("classes", [{}])[0]
    green = cls.get("colors", {}).get("green", {})
    c.check(st == 200 and cls.get("name") == "iperf" and cls.get("shaped") is True,
            "GET /api/v1/qos/stats has lab/iperf, shaped", text[:2000])
    if k1 and k2:
        c.check(k1[1] <= green.get("packets", -1) <= k2[1] and k1[2] <= green.get("bytes", -1) <= k2[2],
                f"GET /api/v1/qos/stats agrees with tc: {green} within {k1[1:]}..{k2[1:]}")
    tcinfo = stats.get("tc", {})
    leaves = net.tc("qdisc", "show", "dev", "c0")
    leaf = re.search(r"qdisc (\S+) 100: parent 1:100", leaves)
    c.check(tcinfo.get("installed") is True and tcinfo.get("classifier") == "u32" and leaf
            and tcinfo.get("leaf_qdisc") == leaf.group(1),
            f"stats' tc object: installed, u32, leaf {tcinfo.get('leaf_qdisc')} as tc shows it", json.dumps(tcinfo)
            + "\n" + leaves)
    filters = net.tc("filter", "show", "dev", "c0")
    c.check("match 00001451/0000ffff at 20" in filters and "match 00001451/0000ffff at 40" in filters
            and "flowid 1:100" in filters, "tc filter show: u32 dport 5201 (IPv4 at 20, IPv6 at 40) to 1:100",
            filters)
    code = (f"import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:{port}/metrics',timeout=10)"
            ".read().decode())")
    metrics = net.ns(net.c, [sys.executable, "-c", code])
    m = re.search(r'^wirescope_qos_packets_total\{policy="lab",class="iperf",color="green"\} (\d+)$', metrics, re.M)
    c.check(m and int(m.group(1)) >= green.get("packets", 1 << 62),
            "/metrics: wirescope_qos_packets_total of lab/iperf, green, from the HTB class", metrics[-3000:])
    c.check(re.search(r'^wirescope_qos_tc_installed\{interface="c0"\} 1$', metrics, re.M)
            and re.search(r'^wirescope_qos_drops_total\{policy="lab",class="iperf"\} \d+$', metrics, re.M),
            "/metrics: wirescope_qos_tc_installed 1 and wirescope_qos_drops_total for the class")
    promtool = ac.shutil.which("promtool")
    if promtool:
        pr = subprocess.run([promtool, "check", "metrics"], input=metrics, capture_output=True, text=True)
        lint = [l for l in (pr.stdout + pr.stderr).splitlines() if "qos" in l]
        c.check(not lint, "promtool has nothing to say about the QoS families", "\n".join(lint))

    print("-- refused: police")
    before = net.tc("class", "show", "dev", "c0")
    police = {"classes": [{"name": "udp", "match": {"proto": "udp"},
                           "police": {"cir_bps": 2000000, "cbs_bytes": 20000}}]}
    st, text = api(net, port, "PUT", "/api/v1/qos/policies/pol", json.dumps(police))
    want = ("classes[0].police: the kernel has no act_police (tc police action)"
            if tcinfo.get("police_action") == "absent" else "classes[0].police: not supported in tc mode")
    c.check(st == 400 and want in text, f"a police policy answers 400 with the reason ({want!r}): {st}", text)
    c.equal(net.tc("class", "show", "dev", "c0"), before, "the tree is unchanged")
    st, text = api(net, port, "GET", "/api/v1/qos/policies")
    c.check(st == 200 and [p["name"] for p in json.loads(text)["policies"]] == ["lab"], "the store is unchanged",
            text)

    print("-- delete")
    st, text = api(net, port, "DELETE", "/api/v1/qos/policies/lab")
    c.check(st == 200, f"DELETE /api/v1/qos/policies/lab: {st}", text)
    c.check(not htb_roots(net), "no HTB left on c0", net.tc("qdisc", "show", "dev", "c0"))
    again, err = iperf(net)
    c.check(again > 2 * 23e6, f"iperf3 TCP free again: {again / 1e6:.0f} Mbit/s", err)

    print("-- someone else's root qdisc is left alone")
    st, text = api(net, port, "PUT", "/api/v1/qos/policies/lab", json.dumps(SHAPE))
    c.check(st == 200, f"PUT lab again: {st}", text)
    net.tc("qdisc", "del", "dev", "c0", "root")
    net.tc("qdisc", "add", "dev", "c0", "root", "handle", "7:", "tbf", "rate", "1gbit", "burst", "100k", "latency",
           "50ms")
    two = dict(SHAPE, classes=[dict(SHAPE["classes"][0], name="iperf2")])
    st, text = api(net, port, "PUT", "/api/v1/qos/policies/lab2", json.dumps(two))
    c.check(st == 500 and "nothing changed" in text, f"a change while someone else's root is there: 500: {st}", text)
    qd = net.tc("qdisc", "show", "dev", "c0")
    c.check("qdisc tbf 7: root" in qd and not htb_roots(net), "their tbf 7: is still the root", qd)
    st, text = api(net, port, "GET", "/api/v1/qos/policies")
    c.check(st == 200 and [p["name"] for p in json.loads(text)["policies"]] == ["lab"], "and the store is unchanged",
            text)
    st, text = api(net, port, "GET", "/api/v1/qos/stats")
    c.check(st == 200 and json.loads(text)["tc"]["netlink_errors"] > 0, "the kernel's refusal is counted",
            text[:1500])
    c.check("add qdisc htb 1:" in agent.output(), "and logged with the operation", agent.output()[-2000:])
    net.tc("qdisc", "del", "dev", "c0", "root")
    st, text = api(net, port, "PUT", "/api/v1/qos/policies/lab", json.dumps(SHAPE))
    c.check(st == 200 and htb_roots(net), f"with their qdisc gone, PUT lab builds the tree again: {st}", text)

    print("-- reload")
    config(conf, {"cfg": SHAPE})
    agent.proc.send_signal(signal.SIGHUP)
    ok = ac.wait_for(lambda: "qos.policies" in api(net, port, "GET", "/api/v1/status")[1], 10, 0.2)
    c.check(ok, "SIGHUP: a changed qos.policies is a restart key", api(net, port, "GET", "/api/v1/status")[1][:2000])

    print("-- SIGTERM")
    rc, _ = agent.stop(signal.SIGTERM, 20)
    c.equal(rc, 0, "agent exits 0 after SIGTERM", agent.output()[-3000:])
    c.check(not htb_roots(net), "SIGTERM removed the tree", net.tc("qdisc", "show", "dev", "c0"))

    print("-- qos.policies from the config")
    agent, port = start(net, ws, conf, tmp, cleanup, "agent2.log")
    c.check(port is not None and "1 policy from the config installed (tc on c0)" in agent.output(),
            "agent starts and installs qos.policies.cfg", agent.output()[-2000:])
    k = class_counts(net.tc("-s", "class", "show", "dev", "c0"), "1:100")
    c.check(k is not None and k[0] == "20Mbit", f"tc shows the config's class at 20Mbit ({k})")
    if port:
        st, text = api(net, port, "GET", "/api/v1/qos/policies/cfg")
        c.check(st == 200 and json.loads(text) == SHAPE, "GET /api/v1/qos/policies/cfg gives it back", text)
    agent.proc.kill()
    agent.proc.wait()
    c.check(htb_roots(net), "after SIGKILL the tree is still there", net.tc("qdisc", "show", "dev", "c0"))

    print("-- a killed agent's tree is taken away at the next start")
    agent, port = start(net, ws, config(os.path.join(tmp, "plain.yaml")), tmp, cleanup, "agent3.log")
    c.check(port is not None and "removed the tc tree a previous run left on c0" in agent.output()
            and not htb_roots(net), "the next start removes it and says so", agent.output()[-2000:])
    rc, _ = agent.stop(signal.SIGINT, 20)
    c.equal(rc, 0, "agent exits 0 after SIGINT")

    print("-- someone else's root at start")
    net.tc("qdisc", "add", "dev", "c0", "root", "handle", "9:", "htb", "default", "1")
    agent = ac.Background(["ip", "netns", "exec", net.c, ws, "-c", conf, "-i", "c0", "--workers", "1"],
                          os.path.join(tmp, "agent4.log"), cleanup)
    ac.wait_for(lambda: not agent.running(), 20)
    out = agent.output()
    c.check(agent.proc.returncode == 1 and "qos.interface c0 already has a root qdisc (htb 9:)" in out,
            "a start on c0 with someone else's HTB root is refused, naming it", out)
    c.check("qdisc htb 9: root" in net.tc("qdisc", "show", "dev", "c0"), "and their qdisc is untouched")


if __name__ == "__main__":
    ac.main("qos_tc", body)
