"""The agent's GET /metrics, over real HTTP, linted and scraped.

Starts `wirescope -r demo.pcap --loop -S demo.rules --api 127.0.0.1:0`,
fetches /metrics with an HTTP client and requires `promtool check metrics`
to pass with no output; then starts a real Prometheus server (Debian
`prometheus`) that scrapes the agent, and queries it until the scraped
series arrive: the target is up, packets and bursts grow between scrapes,
and the burst histogram gives a quantile.

argv: WIRESCOPE DEMO_DIR. Exits 77 (skip) when promtool or prometheus is
missing.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

# Upper bound for waits on the agent and the server (never a measurement).
DEADLINE_S = 60


def free_port():
    # Prometheus cannot report a port it chose itself; take one the kernel
    # gives and hand it over (nothing else on this host is expected to grab it).
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read().decode()


def start_agent(wirescope, demo):
    agent = subprocess.Popen(
        [wirescope, "-r", os.path.join(demo, "demo.pcap"), "--loop", "-S", os.path.join(demo, "demo.rules"),
         "--api", "127.0.0.1:0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    port = None
    for line in agent.stderr:
        m = re.search(r"api listening on [0-9.]+:(\d+)", line)
        if m:
            port = int(m.group(1))
            break
    if port is None:
        agent.wait(timeout=10)
        raise SystemExit(f"the agent did not start its API (exit {agent.returncode})")
    return agent, port


def query(prom, expr):
    status, _, body = get(f"http://127.0.0.1:{prom}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    data = json.loads(body)
    if status != 200 or data.get("status") != "success":
        raise SystemExit(f"query {expr}: {status} {body}")
    return data["data"]["result"]


def main():
    wirescope, demo = sys.argv[1], sys.argv[2]
    promtool, prometheus = shutil.which("promtool"), shutil.which("prometheus")
    if not promtool or not prometheus:
        print("promtool/prometheus not found (Debian package prometheus): skipped")
        return 77
    failures = []
    agent, port = start_agent(wirescope, demo)
    server = None
    try:
        status, ctype, text = get(f"http://127.0.0.1:{port}/metrics")
        if status != 200 or not ctype.startswith("text/plain; version=0.0.4"):
            failures.append(f"/metrics: {status} {ctype}")
        check = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True,
                               timeout=60)
        lint = (check.stdout + check.stderr).strip()
        if check.returncode != 0 or lint:
            failures.append(f"promtool check metrics over /metrics exited {check.returncode}:\n{lint}")
        for name in ("wirescope_packets_total", "wirescope_rules_loaded 5", "wirescope_build_info{version=",
                     "wirescope_burst_processing_seconds_bucket{le=\"+Inf\"}"):
            if name not in text:
                failures.append(f"/metrics lacks {name}")

        with tempfile.TemporaryDirectory() as tmp:
            prom = free_port()
            cfg = os.path.join(tmp, "prometheus.yml")
            with open(cfg, "w") as f:
                f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                        "scrape_configs:\n  - job_name: wirescope\n    static_configs:\n"
                        f"      - targets: ['127.0.0.1:{port}']\n")
            server = subprocess.Popen(
                [prometheus, f"--config.file={cfg}", f"--storage.tsdb.path={tmp}/data",
                 f"--web.listen-address=127.0.0.1:{prom}"],
                stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "prometheus.log"), "w"))
            end = time.monotonic() + DEADLINE_S
            samples = []
            up = []
            while time.monotonic() < end:
                if server.poll() is not None:
                    failures.append("prometheus exited: " + open(os.path.join(tmp, "prometheus.log")).read()[-2000:])
                    break
                try:
                    up = query(prom, 'up{job="wirescope"}')
                    samples = query(prom, "count_over_time(wirescope_packets_total[1m])")
                except (OSError, ValueError):
                    up, samples = [], []
                if samples and int(samples[0]["value"][1]) >= 3:
                    break
                time.sleep(0.5)
            if not up or up[0]["value"][1] != "1":
                failures.append(f"prometheus does not see the agent up: {up}")
            if not samples or int(samples[0]["value"][1]) < 3:
                failures.append(f"prometheus did not scrape wirescope_packets_total three times: {samples}")
            else:
                growth = query(prom, "increase(wirescope_packets_total[1m])")
                bursts = query(prom, "increase(wirescope_burst_processing_seconds_count[1m])")
                p99 = query(prom, "histogram_quantile(0.99, rate(wirescope_burst_processing_seconds_bucket[1m]))")
                if not growth or float(growth[0]["value"][1]) <= 0:
                    failures.append(f"packets did not grow between scrapes: {growth}")
                if not bursts or float(bursts[0]["value"][1]) <= 0:
                    failures.append(f"bursts did not grow between scrapes: {bursts}")
                if not p99 or not (0 < float(p99[0]["value"][1]) <= 0.01):
                    failures.append(f"no burst time quantile within the buckets: {p99}")
                else:
                    print(f"prometheus: p99 burst processing time {float(p99[0]['value'][1]) * 1e6:.1f} us")
    finally:
        if server:
            server.terminate()
            server.wait(timeout=30)
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=30)
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
