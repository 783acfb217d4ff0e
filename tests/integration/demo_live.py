#!/usr/bin/python3
"""The README's first command, deploy/demo.sh, as a newcomer runs it.

It is given the built agent (WIRESCOPE_DEMO_BIN: no setup, no build), a
free port, a replay speed of 20 and an output dir of its own. The one-pass
part prints its flow and alert counts; the live part keeps the API up on a
looped, paced replay: the printed token reads /api/v1/flows/top and
/api/v1/alerts, flows and packet counts grow from one look to the next,
an alert of the demo rules appears, /metrics answers without a token, a
wrong token is refused, and Ctrl-C (SIGINT) stops it with status 0.
"""
import json
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agent_common as ac  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def body(c, cleanup):
    ws, _ = ac.programs()
    tmp = ac.temp_dir(cleanup)
    port = ac.free_tcp_port()
    env = dict(os.environ, WIRESCOPE_DEMO_BIN=ws, WIRESCOPE_DEMO_PORT=str(port), WIRESCOPE_DEMO_SPEED="20",
               WIRESCOPE_DEMO_OUT=os.path.join(tmp, "demo"))
    demo = ac.Background(["bash", os.path.join(ROOT, "deploy", "demo.sh")], os.path.join(tmp, "demo.log"),
                         cleanup, env=env)
    token = None

    def printed_token():
        nonlocal token
        m = re.search(r"^\s*token:\s+([0-9a-f]{32})$", demo.output(), re.M)
        token = m.group(1) if m else None
        return token is not None or not demo.running()

    ac.wait_for(printed_token, 120, 0.1)
    out = demo.output()
    if not c.check(token, "the live part prints a token", out):
        return
    m = re.search(r"(\d+) alert and (\d+) flow events in all", out)
    c.check(m and int(m.group(1)) > 0 and int(m.group(2)) > 0, "the one-pass part counts alerts and flows", out)
    c.check(f"http://127.0.0.1:{port}/" in out, "the dashboard address is printed", out)

    c.check(ac.wait_for(lambda: ac.http_get(port, "/api/v1/ready", token)[0] == 200, 30, 0.1),
            "the API comes up and is ready", demo.output())
    st, text = ac.http_get(port, "/api/v1/flows/top?n=5", "0" * 32)
    c.equal(st, 401, "a wrong token is refused")

    def status():
        st, text = ac.http_get(port, "/api/v1/status", token)
        return json.loads(text) if st == 200 else None

    first = status()
    c.check(first is not None, "the printed token reads /api/v1/status")
    time.sleep(1.5)
    flows = []
    ac.wait_for(lambda: bool(flows.append(json.loads(ac.http_get(port, "/api/v1/flows/top?n=5", token)[1])) or
                             flows[-1].get("flows")), 20, 0.5)
    c.check(flows and flows[-1].get("flows"), "/api/v1/flows/top lists active flows", str(flows[-1:]))
    later = status()
    if first and later:
        p0 = sum(s.get("packets", 0) for s in first.get("sources", []))
        p1 = sum(s.get("packets", 0) for s in later.get("sources", []))
        c.check(p1 > p0, f"packets keep coming ({p0} then {p1})")
        # Paced: 10,000 packets over 115 s at 20x is about 1,700 packets/s,
        # so a few seconds cannot have read the whole file many times.
        c.check(p1 < 10000 * 3, f"the replay is paced, not as fast as possible ({p1} packets so far)")

    alerts = {}

    def got_alert():
        st, text = ac.http_get(port, "/api/v1/alerts?limit=5", token)
        if st == 200:
            alerts.update(json.loads(text))
        return bool(alerts.get("alerts"))

    c.check(ac.wait_for(got_alert, 30, 0.5), "an alert of the demo rules appears in /api/v1/alerts", str(alerts))
    st, text = ac.http_get(port, "/metrics")
    c.check(st == 200 and "wirescope_" in text, "/metrics answers without a token", text[:300])

    rc, waited = demo.stop(signal.SIGINT, timeout=20)
    c.equal(rc, 0, f"Ctrl-C stops the demo (after {waited:.1f} s)", demo.output()[-2000:])


if __name__ == "__main__":
    ac.main("demo_live", body)
