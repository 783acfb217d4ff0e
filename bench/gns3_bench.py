#!/usr/bin/python3
"""GNS3 link captures: packets per second through one stream, and how many
concurrent link streams one agent sustains.

Both run the agent against the GNS3 server emulator
(tests/gns3/gns3_emulator.py, which streams a link's capture as the real
server does: chunked pcap, header with the first packet). Before the agent
starts, each link's capture is started on the emulator and filled, so the
agent reads a backlog as fast as the stream, its parser and the workers go.

  one stream:  a wirescope-gen capture (--packets, default 300,000) on one
               link; packets/s from the first counted packet to the last,
               read off GET /api/v1/gns3/projects every 50 ms. Against it,
               the same agent reading the same file with -r (its summary's
               packets/s), in the same run: the ratio is the cost of the
               HTTP stream.
  many streams: for each K in --links (default 16,64,256,1024), a project
               with K links of --per-link packets each (default 2,000);
               sustained when every link streams and every packet is
               counted within --timeout seconds. Prints the time from the
               agent's start until all are counted (log-in, link list, K
               capture starts and streams included), the packets/s over
               all links that gives, and the largest K sustained.

The emulator is Python: at high rates it, not the agent, may be the limit,
and the output says which side was busy (CPU seconds of each process).

usage: gns3_bench.py --wirescope BIN --gen WIRESCOPE_GEN --emulator gns3_emulator.py
                     [--packets N] [--links 16,64] [--per-link N] [--timeout S] [--workers N]
"""
import argparse
import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

VIEWER = "bench-viewer-token"


def http(url, method="GET", body=None, headers=None, timeout=30):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, method=method, data=data,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        text = r.read().decode()
        return json.loads(text) if text.strip() else None


class Proc:
    def __init__(self, cmd, log):
        self.log_path = log
        self.log = open(log, "wb")
        self.p = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)

    def output(self):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_for(self, pattern, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = re.search(pattern, self.output())
            if m:
                return m
            if self.p.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"{self.log_path}: no '{pattern}':\n{self.output()[-2000:]}")

    def cpu_s(self):
        """User + system CPU seconds so far (from /proc)."""
        try:
            with open(f"/proc/{self.p.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            return float("nan")

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()


def run_case(args, tmp, name, links, fill):
    """Starts the emulator with one project of `links` links, starts every
    link's capture and fills it (fill(control, project_id, link_id)), then
    starts the agent on the project. Returns a dict of what was measured."""
    nodes = [f"N{i}" for i in range(links + 1)]
    proj = [{"name": "Bench", "nodes": nodes, "links": [[nodes[i], nodes[i + 1]] for i in range(links)]}]
    pfile = os.path.join(tmp, f"{name}-projects.json")
    with open(pfile, "w") as f:
        json.dump(proj, f)
    emu = Proc(["/usr/bin/python3", args.emulator, "--port", "0", "--control-port", "0", "--projects", pfile,
                "--ping-interval", "30"], os.path.join(tmp, f"{name}-emu.log"))
    agent = None
    try:
        m = emu.wait_for(r"PORTS (\d+) (\d+)", 30)
        api, ctl = int(m.group(1)), int(m.group(2))

        def control(path, body=None):
            return http(f"http://127.0.0.1:{ctl}{path}", "POST" if body is not None else "GET", body, timeout=600)

        control("/_emu/config", {"chunk": 256 * 1024})
        state = control("/_emu/state")
        project = state["projects"][0]
        auth = {"Authorization": "Basic " + base64.b64encode(b"admin:secret").decode()}
        expected = 0
        for link in project["links"]:
            http(f"http://127.0.0.1:{api}/v2/projects/{project['project_id']}/links/{link['link_id']}/start_capture",
                 "POST", {"data_link_type": "DLT_EN10MB"}, auth)
            expected += fill(control, project["project_id"], link["link_id"])

        conf = os.path.join(tmp, f"{name}.yaml")
        with open(conf, "w") as f:
            f.write(f"""gns3:
  servers:
    - {{name: lab, url: "http://127.0.0.1:{api}", api: v2, user: admin, password: secret}}
  capture:
    - {{server: lab, project: Bench, links: all}}
workers: {args.workers}
api:
  tokens:
    - {{name: bench, role: viewer, token_sha256: "{hashlib.sha256(VIEWER.encode()).hexdigest()}"}}
""")
        emu_cpu0 = emu.cpu_s()
        t_start = time.monotonic()
        agent = Proc([args.wirescope, "-c", conf, "--api", "127.0.0.1:0"], os.path.join(tmp, f"{name}-agent.log"))
        port = int(agent.wait_for(r"api listening on [0-9.]+:(\d+)", 30).group(1))

        def status():
            try:
                j = http(f"http://127.0.0.1:{port}/api/v1/gns3/projects", headers={"Authorization": f"Bearer {VIEWER}"})
            except (OSError, urllib.error.URLError):
                return None
            return next((p for p in j["projects"] if p["name"] == "Bench"), None)

        t_first = t_last = None
        first_count = 0
        got = 0
        p = None
        end = time.monotonic() + args.timeout
        while time.monotonic() < end:
            p = status() or p
            now = time.monotonic()
            got = (p or {}).get("packets", 0)
            if got and t_first is None:
                t_first, first_count = now, got
            if got >= expected:
                t_last = now
                break
            time.sleep(0.05)
        out = {"links": links, "expected": expected, "got": got,
               "links_capturing": (p or {}).get("links_capturing", 0),
               "seconds": (t_last - t_first) if t_first and t_last else None,
               "since_start": (t_last - t_start) if t_last else None,
               "agent_cpu_s": agent.cpu_s(), "emulator_cpu_s": emu.cpu_s() - emu_cpu0}
        if out["seconds"]:
            # Packets counted after the first look, over the time between.
            out["pps"] = (got - first_count) / out["seconds"] if out["seconds"] > 0 else float("inf")
        return out
    finally:
        if agent:
            agent.stop()
        emu.stop()


def file_pps(args, cap):
    r = subprocess.run([args.wirescope, "-r", cap, "--workers", str(args.workers)], capture_output=True, text=True,
                       timeout=600)
    m = re.search(r"(\d+) packets, .* in ([0-9.]+) s", r.stdout)
    if r.returncode != 0 or not m:
        raise RuntimeError(f"wirescope -r: {r.returncode}\n{r.stdout}\n{r.stderr}")
    return int(m.group(1)) / float(m.group(2))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wirescope", required=True)
    ap.add_argument("--gen", required=True)
    ap.add_argument("--emulator", required=True)
    ap.add_argument("--packets", type=int, default=300000)
    ap.add_argument("--links", default="16,64,256,1024")
    ap.add_argument("--per-link", type=int, default=2000)
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        print("SKIP: python3-aiohttp is not installed (the emulator needs it)")
        return 77
    tmp = tempfile.mkdtemp(prefix="ws-gns3-bench-")
    try:
        cap = os.path.join(tmp, "one.pcap")
        subprocess.run([args.gen, "--packets", str(args.packets), "--flows", str(max(1, args.packets // 100)),
                        "--seed", "7", "--vlan-share", "0", "--out", cap], check=True, capture_output=True)

        print(f"== one stream: {args.packets} packets backlogged on one link, {args.workers} worker(s)")
        one = run_case(args, tmp, "one", 1,
                       lambda control, pid, lid: control("/_emu/inject",
                                                         {"project_id": pid, "link_id": lid, "pcap": cap})["written"])
        ref = file_pps(args, cap)
        if one.get("pps"):
            print(f"gns3 stream: {one['got']} of {one['expected']} packets in {one['seconds']:.2f} s = "
                  f"{one['pps'] / 1e3:.0f} kpps (agent {one['agent_cpu_s']:.1f} CPU s, emulator "
                  f"{one['emulator_cpu_s']:.1f} CPU s)")
            print(f"wirescope -r same file: {ref / 1e3:.0f} kpps")
            print(f"ratio stream / file: {one['pps'] / ref:.3f}")
        else:
            print(f"gns3 stream: only {one['got']} of {one['expected']} packets within {args.timeout:.0f} s")

        print(f"== many streams: {args.per_link} packets on each link")
        best = 0
        for k in (int(x) for x in args.links.split(",")):
            r = run_case(args, tmp, f"k{k}", k,
                         lambda control, pid, lid: control("/_emu/inject", {
                             "project_id": pid, "link_id": lid,
                             "generate": {"count": args.per_link, "size": 200}})["written"])
            ok = r["got"] == r["expected"] and r["links_capturing"] == k
            # From the agent's start: logging in, listing the links, starting
            # K captures and streams, and reading them all.
            took = r["since_start"]
            rate = f", {r['expected'] / took / 1e3:.0f} kpps over all links" if took else ""
            print(f"{k:5d} links: {'sustained' if ok else 'NOT sustained'}; {r['got']}/{r['expected']} packets, "
                  f"{r['links_capturing']} links capturing, all counted {took or float('nan'):.2f} s after the "
                  f"agent started{rate} (agent {r['agent_cpu_s']:.1f} CPU s, emulator {r['emulator_cpu_s']:.1f} CPU s)")
            if not ok:
                break
            best = k
        print(f"largest number of concurrent link streams sustained: {best}")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
