"""promtool's lint over the agent's metrics text.

Runs `wirescope -r demo.pcap -S demo.rules --metrics-dump` (the metrics the
API serves at /metrics, printed once the replay has ended) and requires
`promtool check metrics` to exit 0 with no output at all: any lint problem
(a counter without _total, a missing HELP, a unit in the wrong form) fails.
Also runs it without rules and with an IPFIX exporter, so the families that
only exist in those set-ups are linted too.

argv: WIRESCOPE DEMO_DIR. Exits 77 (skip) when promtool is missing.
"""
import os
import shutil
import subprocess
import sys
import tempfile


def main():
    wirescope, demo = sys.argv[1], sys.argv[2]
    promtool = shutil.which("promtool")
    if not promtool:
        print("promtool not found (Debian package prometheus): skipped")
        return 77
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        runs = {
            "demo rules, EVE": ["-S", os.path.join(demo, "demo.rules"), "-l", tmp, "--workers", "2"],
            "no rules, IPFIX": ["--ipfix", "udp://127.0.0.1:9", "--workers", "1"],
        }
        for what, extra in runs.items():
            cmd = [wirescope, "-r", os.path.join(demo, "demo.pcap"), "--metrics-dump"] + extra
            run = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            if run.returncode != 0:
                print(f"{what}: wirescope exited {run.returncode}: {run.stderr}")
                failures += 1
                continue
            text = run.stdout
            for name in ("wirescope_packets_total", "wirescope_burst_processing_seconds_bucket",
                         "wirescope_flow_records_exported_total{exporter="):
                if name not in text:
                    print(f"{what}: {name} missing from the metrics")
                    failures += 1
            check = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                                   text=True, timeout=60)
            out = (check.stdout + check.stderr).strip()
            if check.returncode != 0 or out:
                print(f"{what}: promtool check metrics exited {check.returncode}:\n{out}")
                failures += 1
            else:
                print(f"{what}: promtool check metrics: clean ({len(text.splitlines())} lines)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
