#!/usr/bin/python3
"""The agent on a DPDK port, end to end, without hugepages or a NIC.

`wirescope --capture dpdk -i net_pcap0` with the EAL given
`--no-huge --vdev net_pcap0,rx_pcap=CAP`: the net_pcap PMD delivers the
generated capture as mbufs. Once the agent has read every frame (its
/metrics say so), SIGINT; its flow records must carry, per direction of
every 5-tuple (with the outer VLAN), the packets and bytes that
`wirescope -r` of the same file gives (the DPDK clock is the wall clock,
so records are compared summed per direction, as the AF_PACKET test does).
/metrics must hold the port counters and pass promtool. A port that does
not exist is refused at start, naming the port and the known ones.

usage: agent_dpdk.py WIRESCOPE WIRESCOPE_GEN
"""
import hashlib
import json
import os
import re
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import agent_common as ac  # noqa: E402


def eal(cap):
    return ("--no-huge -m 512 --no-pci --no-shconf --no-telemetry -l 0 --log-level=*:error "
            f"--vdev net_pcap0,rx_pcap={cap}")


def metric(text, name, labels=None):
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"([a-z_]+)(\{[^}]*\})?\s+(\S+)$", line)
        if m and m.group(1) == name and (labels is None or labels in (m.group(2) or "")):
            return float(m.group(3))
    return None


def body(c, cleanup):
    ws, gen = ac.programs()
    tmp = ac.temp_dir(cleanup)
    help_text = ac.run_agent(ws, ["--help"]).stdout
    if "--dpdk-eal-args" not in help_text:
        ac.skip("this wirescope has no DPDK capture")

    cap, truth = ac.generate(gen, tmp, packets=20000, flows=600, seed=12, ipv6_share=0.3, vlan_share=0.2)
    refdir = os.path.join(tmp, "file")
    os.mkdir(refdir)
    r = ac.run_agent(ws, ["-r", cap, "-l", refdir, "--workers", "1"])
    c.equal(r.returncode, 0, "wirescope -r of the capture: exit status", r.stderr)
    ref_records, _ = ac.read_eve(os.path.join(refdir, "eve.json"))
    reference = ac.eve_directions(ref_records)

    out = os.path.join(tmp, "dpdk")
    os.mkdir(out)
    token = "dpdk-viewer-token"
    conf = os.path.join(tmp, "agent.yaml")
    with open(conf, "w") as f:
        f.write("api:\n  tokens:\n    - {name: v, role: viewer, token_sha256: \"%s\"}\n"
                % hashlib.sha256(token.encode()).hexdigest())
    log = os.path.join(tmp, "agent.log")
    agent = ac.Background([ws, "--capture", "dpdk", "-i", "net_pcap0", "--dpdk-eal-args", eal(cap), "--workers", "1",
                           "-l", out, "--api", "127.0.0.1:0", "-c", conf], log, cleanup)
    port = None
    deadline = time.time() + 30
    while time.time() < deadline and agent.running() and port is None:
        m = re.search(r"api listening on [0-9.]+:(\d+)", open(log).read())
        port = int(m.group(1)) if m else None
        time.sleep(0.05)
    if not c.check(port is not None, "the agent starts on the DPDK port with its API up", agent.output()):
        agent.kill()
        return

    def scrape():
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            return resp.read().decode()

    text = ""
    ok = ac.wait_for(lambda: (metric(text := scrape(), "wirescope_packets_total") or 0) >= truth["packets"], 60, 0.2)
    c.check(ok, f"the agent reads all {truth['packets']} frames from net_pcap0",
            f"wirescope_packets_total {metric(text, 'wirescope_packets_total')}")
    text = scrape()
    src = 'port="net_pcap0"'
    for name in ("imissed", "ierrors", "rx_nombuf"):
        c.equal(metric(text, f"wirescope_dpdk_{name}_total", src), 0.0, f"/metrics has wirescope_dpdk_{name}_total")
    promtool = ac.shutil.which("promtool")
    if promtool:
        mf = os.path.join(tmp, "metrics.txt")
        with open(mf, "w") as f:
            f.write(text)
        pr = ac.subprocess.run([promtool, "check", "metrics"], stdin=open(mf), capture_output=True, text=True)
        lint = [l for l in (pr.stdout + pr.stderr).splitlines() if "dpdk" in l]
        c.check(not lint, "promtool has nothing to say about the DPDK families", "\n".join(lint))
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/status",
                                 headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        status = json.loads(resp.read())
    names = [s.get("name") for s in status.get("sources", [])]
    c.check("dpdk:net_pcap0/0" in names, "GET /api/v1/status lists the DPDK queue as a source", str(names))

    rc, secs = agent.stop(ac.signal.SIGINT, 10)
    c.equal(rc, 0, f"the agent exits 0 after SIGINT (in {secs:.2f} s)", agent.output())
    # The summary is the last "wirescope: N packets" line (the API's lines come first).
    s = ac.parse_summary("\n".join(l for l in agent.output().splitlines() if " packets, " in l))
    if c.check(s is not None, "summary parses", agent.output()):
        c.equal(s["packets"], truth["packets"], "summary packets = frames in the file")
        c.equal(s["dropped"], 0, "nothing dropped", str(s["drops"]))
    records, errors = ac.read_eve(os.path.join(out, "eve.json"))
    c.check(records and not errors, "eve.json is valid JSON", "\n".join(errors[:5]))
    got = ac.eve_directions(records)
    missing = set(reference) - set(got)
    extra = set(got) - set(reference)
    differ = [k for k in set(reference) & set(got) if reference[k] != got[k]]
    c.check(not missing and not extra and not differ,
            f"per direction of each 5-tuple + VLAN, DPDK packets and bytes = the file's ({len(missing)} missing, "
            f"{len(extra)} extra, {len(differ)} differ of {len(reference)})",
            "\n".join(f"{k}: dpdk {got.get(k)}, file {reference.get(k)}" for k in list(missing | extra)[:5] + differ[:5]))

    bad = ac.run_agent(ws, ["--capture", "dpdk", "-i", "net_nosuch0", "--dpdk-eal-args", eal(cap), "--workers", "1"])
    c.check(bad.returncode != 0 and "net_nosuch0" in bad.stderr and "no such port" in bad.stderr,
            "an unknown port is refused at start, naming it", bad.stderr[-500:])


if __name__ == "__main__":
    ac.main("agent_dpdk", body)
