"""The bundled demo capture (and its truth file) must be byte-identical to
what the command documented in deploy/demo/README.md produces today, so the
file cannot drift from the generator.

usage: demo_check.py WIRESCOPE_GEN README.md demo.pcap
"""
import os
import shlex
import subprocess
import sys
import tempfile


def main():
    gen, readme, demo = sys.argv[1:4]
    cmd = None
    for line in open(readme):
        words = shlex.split(line.strip()) if "wirescope-gen " in line else []
        if words and words[0].endswith("wirescope-gen"):
            cmd = words
            break
    if cmd is None:
        print("FAIL: no wirescope-gen command line in", readme)
        sys.exit(1)
    demo_dir = os.path.dirname(os.path.abspath(demo))
    with tempfile.TemporaryDirectory() as d:
        args, compare = [gen], []
        it = iter(cmd[1:])
        for a in it:
            if a in ("--out", "-o", "--truth"):
                bundled = next(it)
                fresh = os.path.join(d, os.path.basename(bundled))
                args += [a, fresh]
                compare.append((os.path.join(demo_dir, os.path.basename(bundled)), fresh))
            else:
                args.append(a)
        r = subprocess.run(args, capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            print("FAIL: regenerating failed:", r.stderr)
            sys.exit(1)
        for bundled, fresh in compare:
            a, b = open(bundled, "rb").read(), open(fresh, "rb").read()
            if a != b:
                print(f"FAIL: {bundled} differs from a fresh run of: {shlex.join(cmd)}"
                      f" ({len(a)} vs {len(b)} bytes); regenerate it with that command")
                sys.exit(1)
        if os.path.getsize(demo) > 3 * 1024 * 1024:
            print("FAIL: demo capture exceeds 3 MiB")
            sys.exit(1)
    print(f"{len(compare)} passed, 0 failed")


if __name__ == "__main__":
    main()
