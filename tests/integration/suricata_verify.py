#!/usr/bin/python3
"""suricata-verify regression: the tests that pass today keep passing.

Runs ../shared/tools/sv-run (paths relative to the project root) over
../shared/testdata/suricata-verify with --json and requires the verdict
"pass" for every test in PINNED. sv-run passes a test's `args` on only for
-k and reads no suricata.yaml; the tests that ask for a setting wirescope
also has (--simulate-ips in their args; action-order or IPv4-in-IPv4
decoding in their suricata.yaml: settings()) are run again through a
wrapper that gives it (the flag, or rules.action_order /
decoder.ipv4_in_ipv4 / decoder.track_parent_flow in a config file), and
that run's verdict is theirs.
PINNED holds the tests that expect at least one alert
and passed when the list was made (tests that expect none pass for a
program that does nothing, so they prove little and are not pinned).
Prints the pass counts, and the tests that pass now without being pinned
so the list can grow. Exit 77 (skip) when the test data or sv-run is
absent: they are not part of the project.

usage: suricata_verify.py WIRESCOPE [WIRESCOPE_GEN]
"""
import json
import os
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agent_common as ac  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared"))
SV_RUN = os.path.join(SHARED, "tools", "sv-run")
TESTS = os.path.join(SHARED, "testdata", "suricata-verify")

PINNED = [
    "alert-distance-within-1",
    "alert-max/alert-max-20",
    "alert-testmyids-midstream3",
    "alert-testmyids-midstream5",
    "alert-testmyids-not-established",
    "bug-4571-02",
    "bug-4571-03",
    "bug-4571-03-pre-8",
    "bug-4571-04",
    "bug-4571-05",
    "bug-4571-06",
    "bug-4571-06-pre-8",
    "bug-5802",
    "bug-5825-midstream-exception-policy/exception-policy-ips-midstream-enabled-ignore",
    "bug-7390",
    "bug-7725-01",
    "bug-7725-02",
    "bug-7725-03",
    "bug-docs-5030-01",
    "decode-nsh-type1",
    "defrag/bug-6887-defrag-ipv6-tcp",
    "defrag/bug-6942-6887-defrag-eth-ip-gre-ppp-ip-udp-data",
    "decode-nsh-type2",
    "byte-extract-01",
    "detect-bytejump-01",
    "detect-bytejump-02",
    "detect-bytejump-05",
    "detect-bytetest-01",
    "detect-bytetest-02",
    "detect-flowbits",
    "detect-itype",
    "detect-udp-flow-rule-02-ips",
    "eve-overlap-payload-05-gap",
    "eve-payload-05-tcp-data-gap",
    "flow-drop-iponly-01",
    "flow-drop-iponly-02",
    "iponly-ipv6-range-01",
    "iponly-midstream-01",
    "like-ip-only-01",
    "lua-scrule-ids",
    "lua-scrule-ids-pre8",
    "stream-async/http/stream-async-6063-srv-03",
    "tcp-async-01",
    "tcp-fastopen-12",
    "tcp-split-handshake-02-5whs",
    "threshold/detection_filter-rule-flow",
    "threshold/detection_filter-rule-hostsrc",
    "threshold/threshold-rule-flow-backoff-single-flow",
    "tls-extra-alert",
    "tls/tls-bypass-missing-event",
    "util-action-tests/util-action-01",
    "util-action-tests/util-action-03",
    "util-action-tests/util-action-06",
    "util-action-tests/util-action-07",
    "util-action-tests/util-action-12",
    "util-action-tests/util-action-16",
    "vxlan-decoder-02",
    "vxlan-decoder-04",
]

# Tests that expect no alert and pass only because of something wirescope
# does (their alerts were wrong before it): exception policies for sessions
# picked up mid-stream, a pass rule's flow scope.
PINNED_QUIET = [
    "exception-policy-default-03",
    "exception-policy-master-switch/exception-policy-master-switch-02",
    "exception-policy-master-switch/exception-policy-master-switch-04",
    "exception-policy-master-switch/exception-policy-master-switch-05",
    "exception-policy-midstream-01",
    "exception-policy-midstream-05",
    "ips-state-1",
]

# What a test asks of Suricata that wirescope also offers, as wirescope's
# own flag or config key: from test.yaml's args and the test's
# suricata.yaml. The wrapper below applies it to each run.
WRAPPER = r"""#!/usr/bin/python3
import os, sys, tempfile
sys.path.insert(0, {here!r})
import suricata_verify as sv
args = sys.argv[1:]
tdir = os.path.dirname(args[args.index("-S") + 1]) if "-S" in args else None
flags, conf = sv.settings(tdir) if tdir else ([], {{}})
if conf:
    import yaml
    fd, path = tempfile.mkstemp(suffix=".yaml", dir={tmp!r})
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(conf, f)
    flags += ["-c", path]
os.execv({ws!r}, [{ws!r}] + flags + args)
"""


def settings(tdir):
    """(flags, config) for a test: --simulate-ips and the --set values
    below from its args; the same settings from its suricata.yaml
    (action-order, decoder.ipv4.ipip.enabled and track-parent-flow, stream.midstream,
    stream.midstream-policy, exception-policy, eve-log's alert payload and packet),
    the args winning."""
    import yaml
    flags, conf = [], {}
    try:
        with open(os.path.join(tdir, "test.yaml")) as f:
            y = yaml.safe_load(f) or {}
    except (OSError, yaml.YAMLError):
        return flags, conf
    words = " ".join(str(a) for a in (y.get("args") or [])).split()
    if "--simulate-ips" in words:
        flags.append("--simulate-ips")
    sets = {}
    for i, w in enumerate(words):
        if w == "--set" and i + 1 < len(words) and "=" in words[i + 1]:
            k, v = words[i + 1].split("=", 1)
            sets[k] = v
    try:
        with open(os.path.join(tdir, "suricata.yaml")) as f:
            sy = yaml.safe_load(f) or {}
    except (OSError, yaml.YAMLError):
        sy = {}
    if not isinstance(sy, dict):
        sy = {}
    if isinstance(sy.get("action-order"), list):
        conf.setdefault("rules", {})["action_order"] = [str(a) for a in sy["action-order"]]
    ipip = (((sy.get("decoder") or {}).get("ipv4") or {}).get("ipip") or {})
    if isinstance(ipip, dict) and ipip.get("enabled") is True:
        conf.setdefault("decoder", {})["ipv4_in_ipv4"] = True
    if isinstance(ipip, dict) and ipip.get("track-parent-flow") is True:
        conf.setdefault("decoder", {})["track_parent_flow"] = True
    stream = sy.get("stream") if isinstance(sy.get("stream"), dict) else {}
    midstream = sets.get("stream.midstream", stream.get("midstream"))
    if midstream is not None:
        conf.setdefault("stream", {})["midstream"] = str(midstream).lower() in ("true", "yes", "1")
    policy = sets.get("stream.midstream-policy", stream.get("midstream-policy"))
    if policy is not None:
        conf.setdefault("stream", {})["midstream_policy"] = str(policy)
    # eve-log's alert payload and packet logging.
    for out in sy.get("outputs") or []:
        eve = out.get("eve-log") if isinstance(out, dict) else None
        for t in (eve or {}).get("types") or [] if isinstance(eve, dict) else []:
            alert = t.get("alert") if isinstance(t, dict) else None
            if not isinstance(alert, dict):
                continue
            for key in ("payload", "packet"):
                if alert.get(key) is True:
                    conf.setdefault("output", {}).setdefault("eve", {})[key] = True
    master = sets.get("exception-policy", sy.get("exception-policy"))
    if master is not None:
        conf["exception_policy"] = str(master)
    return flags, conf


def adapted_tests():
    """Tests that ask for a setting settings() carries over (names as sv-run gives them)."""
    names = []
    for root, _dirs, files in os.walk(TESTS):
        if "test.yaml" in files and any(settings(root)):
            names.append(os.path.relpath(root, TESTS))
    return sorted(names)


def body(c, cleanup):
    if len(sys.argv) < 2:
        print(f"usage: {sys.argv[0]} WIRESCOPE [WIRESCOPE_GEN]", file=sys.stderr)
        sys.exit(2)
    ws = os.path.abspath(sys.argv[1])
    if not os.access(ws, os.X_OK):
        ac.skip(f"{ws} is not built")
    if not os.path.isfile(SV_RUN):
        ac.skip(f"{SV_RUN} not present (shared tools are not part of the project)")
    if not os.path.isdir(TESTS):
        ac.skip(f"{TESTS} not present (shared test data is not part of the project)")
    try:
        import yaml  # noqa: F401  (sv-run needs it)
    except ImportError:
        ac.skip("sv-run needs PyYAML (Debian package python3-yaml)")

    tmp = ac.temp_dir(cleanup, "ws-sv-")

    def sv_run(binary, out, only=None):
        cmd = [sys.executable, SV_RUN, "--binary", binary, "--tests", TESTS, "--json", out]
        if only:
            cmd += ["--only"] + only
        print(f"$ {' '.join(cmd[:6])} ...", flush=True)
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=1200, cwd=tmp)
        print(ac.indent(r.stdout.strip(), 4))
        if r.stderr.strip():
            print(ac.indent(r.stderr.strip(), 4))
        if not c.equal(r.returncode, 0, "sv-run exit status", r.stderr):
            return None
        with open(out) as f:
            return json.load(f)

    results = sv_run(ws, os.path.join(tmp, "sv.json"))
    if results is None:
        return
    adapted = adapted_tests()
    print(f"tests that ask for a setting wirescope has (settings()): {len(adapted)}")
    wrapper = os.path.join(tmp, "wirescope-as-asked")
    with open(wrapper, "w") as f:
        f.write(WRAPPER.format(here=os.path.dirname(os.path.abspath(__file__)), tmp=tmp, ws=ws))
    os.chmod(wrapper, os.stat(wrapper).st_mode | stat.S_IXUSR)
    adapted_results = sv_run(wrapper, os.path.join(tmp, "sv-adapted.json"), adapted) if adapted else {}
    if adapted_results is None:
        return
    results.update({k: v for k, v in adapted_results.items() if k in adapted})

    passed = sorted(k for k, v in results.items() if v["verdict"] == "pass")
    positive = [k for k, v in results.items() if v["expects_alerts"] and v["verdict"] != "skip"]
    positive_pass = [k for k in positive if results[k]["verdict"] == "pass"]
    print(f"suricata-verify: {len(passed)} of {len(results)} pass; tests expecting alerts: "
          f"{len(positive_pass)} of {len(positive)} pass; pinned: {len(PINNED)}")

    for name in PINNED:
        v = results.get(name)
        if v is None:
            c.check(False, f"pinned {name}: present in {TESTS}")
            continue
        c.check(v["verdict"] == "pass" and v["expects_alerts"],
                f"pinned {name}: pass", f"verdict {v['verdict']}: {v['why']}")
    for name in PINNED_QUIET:
        v = results.get(name)
        c.check(v is not None and v["verdict"] == "pass", f"pinned (no alert expected) {name}: pass",
                f"verdict {v and v['verdict']}: {v and v['why']}")
    new = [k for k in positive_pass if k not in PINNED]
    if new:
        print("passing now but not pinned (add them to PINNED):\n" + "\n".join(f"  {k}" for k in sorted(new)))


if __name__ == "__main__":
    ac.main("suricata_verify", body)
