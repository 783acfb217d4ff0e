#!/usr/bin/python3
"""suricata-verify regression: the tests that pass today keep passing.

Runs ../shared/tools/sv-run (paths relative to the project root) over
../shared/testdata/suricata-verify with --json and requires the verdict
"pass" for every test in PINNED. sv-run passes a test's `args` on only for
-k; the tests whose args ask for --simulate-ips are run again through a
wrapper that adds it (wirescope has the flag, as Suricata), and that run's
verdict is theirs. PINNED holds the tests that expect at least one alert
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
    "bug-7725-02",
    "bug-7725-03",
    "bug-docs-5030-01",
    "decode-nsh-type1",
    "defrag/bug-6887-defrag-ipv6-tcp",
    "decode-nsh-type2",
    "byte-extract-01",
    "detect-bytejump-01",
    "detect-bytejump-02",
    "detect-bytejump-05",
    "detect-bytetest-01",
    "detect-flowbits",
    "detect-itype",
    "detect-udp-flow-rule-02-ips",
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
    "tls-extra-alert",
    "tls/tls-bypass-missing-event",
    "util-action-tests/util-action-01",
    "util-action-tests/util-action-03",
    "vxlan-decoder-02",
    "vxlan-decoder-04",
]


def ips_tests():
    """Tests whose test.yaml args include --simulate-ips (names as sv-run gives them)."""
    import yaml
    names = []
    for root, _dirs, files in os.walk(TESTS):
        if "test.yaml" not in files:
            continue
        try:
            with open(os.path.join(root, "test.yaml")) as f:
                y = yaml.safe_load(f) or {}
        except (OSError, yaml.YAMLError):
            continue
        args = " ".join(str(a) for a in (y.get("args") or []))
        if "--simulate-ips" in args.split():
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
    ips = ips_tests()
    print(f"tests that ask for --simulate-ips: {len(ips)}")
    wrapper = os.path.join(tmp, "wirescope-simulate-ips")
    with open(wrapper, "w") as f:
        f.write(f'#!/bin/sh\nexec "{ws}" --simulate-ips "$@"\n')
    os.chmod(wrapper, os.stat(wrapper).st_mode | stat.S_IXUSR)
    ips_results = sv_run(wrapper, os.path.join(tmp, "sv-ips.json"), ips) if ips else {}
    if ips_results is None:
        return
    results.update({k: v for k, v in ips_results.items() if k in ips})

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
    new = [k for k in positive_pass if k not in PINNED]
    if new:
        print("passing now but not pinned (add them to PINNED):\n" + "\n".join(f"  {k}" for k in sorted(new)))


if __name__ == "__main__":
    ac.main("suricata_verify", body)
