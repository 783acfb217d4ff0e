"""SIGHUP with -c: the real agent re-reads its config file. rules.* apply at
once, other changed keys are reported as needing a restart, and a config
that does not load changes nothing; all of it visible in /api/v1/status.

usage: api_config_reload.py WIRESCOPE DEMO_PCAP DEMO_RULES
Exit status: 0 pass, 1 fail, 77 skip.
"""

import os
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from api_agent import ADMIN, VIEWER, Agent, check, failures, sha  # noqa: E402

EXTRA_RULE = 'alert udp any any -> any 53 (msg:"RELOAD DNS"; sid:3000001; rev:1;)\n'


def config(path, rules, extra="", api_extra=""):
    files = ", ".join(f'"{r}"' for r in rules)
    with open(path, "w") as f:
        f.write(f"""api:
  tokens:
    - {{name: ops, role: admin, token_sha256: "{sha(ADMIN)}"}}
    - {{name: grafana, role: viewer, token_sha256: "{sha(VIEWER)}"}}
  rate_limit: {{requests_per_second: 1000, burst: 1000}}
{api_extra}rules:
  files: [{files}]
{extra}""")


def wait_for(fn, what, timeout=15):
    deadline = time.time() + timeout
    v = None
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.1)
    return v


def main():
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    ws, pcap, rules = (os.path.abspath(x) for x in sys.argv[1:4])
    if not os.access(ws, os.X_OK):
        print(f"SKIP: {ws} not built")
        return 77
    tmp = tempfile.mkdtemp(prefix="ws-cfg-")
    a = None
    try:
        r1 = os.path.join(tmp, "demo.rules")
        shutil.copy(rules, r1)
        r2 = os.path.join(tmp, "extra.rules")
        with open(r2, "w") as f:
            f.write(EXTRA_RULE)
        cfg = os.path.join(tmp, "agent.yaml")
        config(cfg, [r1])
        a = Agent(ws, ["-c", cfg, "-r", pcap, "--loop", "--api", "127.0.0.1:0", "--workers", "1"], tmp, "cfg")

        def status():
            return a.json("GET", "/api/v1/status", VIEWER)[2]

        def rules_loaded():
            return a.json("GET", "/api/v1/rules", VIEWER)[2]["loaded"]

        st = status()
        check(st["config"]["file"] == cfg and st["config"]["reloads_ok"] == 0, "status names the config file")
        check(rules_loaded() == 5, "the demo rules run")

        # A good config: one more rule file, and keys that need a restart.
        config(cfg, [r1, r2], "flow:\n  max_flows: 12345\ndpdk:\n  mbufs: 4095\n", "  anonymous_view: true\n")
        a.p.send_signal(signal.SIGHUP)
        st = wait_for(lambda: (lambda s: s if s["config"]["reloads_ok"] == 1 else None)(status()), "reload")
        check(st and st["config"]["last_error"] is None, "SIGHUP reloads the config", str(st and st["config"]))
        want = ["dpdk", "flow.max_flows", "api.dashboard"]
        check(st and st["config"]["restart_needed"] == want,
              f"changed flow.max_flows, dpdk and api.anonymous_view are reported as needing a restart "
              f"({st and st['config']['restart_needed']})")
        check(rules_loaded() == 6, "the new rules.files apply at once")
        hit = wait_for(lambda: a.json("GET", "/api/v1/alerts?sid=3000001&limit=1", VIEWER)[2]["alerts"], "alert")
        check(hit and hit[0]["alert"]["signature"] == "RELOAD DNS", "the added rule alerts without a restart")

        # A config with a YAML error: nothing changes, the reason names the line.
        with open(cfg, "a") as f:
            f.write("rules:\n  files: [unterminated\n")
        a.p.send_signal(signal.SIGHUP)
        st = wait_for(lambda: (lambda s: s if s["config"]["reloads_failed"] == 1 else None)(status()), "refusal")
        err = (st or {}).get("config", {}).get("last_error") or ""
        check(st and cfg in err, f"a broken config is refused, naming the file ({err})")
        check(rules_loaded() == 6, "the running rules stay after a refused config")

        # A config naming a rule file that does not exist: refused too.
        config(cfg, [r1, os.path.join(tmp, "missing.rules")])
        a.p.send_signal(signal.SIGHUP)
        st = wait_for(lambda: (lambda s: s if s["config"]["reloads_failed"] == 2 else None)(status()), "refusal 2")
        err = (st or {}).get("config", {}).get("last_error") or ""
        check(st and "missing.rules" in err, f"a missing rule file is refused ({err})")
        check(rules_loaded() == 6, "the running rules stay")
        check(a.json("GET", "/api/v1/rules", VIEWER)[2]["last_reload_error"], "/rules reports the failed rule load")

        # Fixed again: the next reload works and clears the error.
        config(cfg, [r1])
        a.p.send_signal(signal.SIGHUP)
        st = wait_for(lambda: (lambda s: s if s["config"]["reloads_ok"] == 2 else None)(status()), "reload 2")
        check(st and st["config"]["last_error"] is None and st["config"]["restart_needed"] == [],
              "a later good reload clears the error")
        check(rules_loaded() == 5, "rules.files back to the demo rules")
        rc, secs = a.stop()
        check(rc == 0 and secs < 2.5, f"SIGTERM: exit 0 within 2 s ({rc}, {secs:.2f} s)")
        err_text = open(a.err_path).read()
        check("config reload failed, the running config and rules stay" in err_text, "the refusal is logged")
        a = None
    finally:
        if a:
            a.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print(f"FAIL: {len(failures)} checks failed: {failures}")
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    sys.exit(main())
