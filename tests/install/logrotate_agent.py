#!/usr/bin/python3
"""eve.json survives log rotation: move, SIGHUP, nothing lost.

The agent replays the demo capture forever (paced, so records keep coming)
into DIR/eve.json. Rotation as logrotate does it (with the shipped
deploy/logrotate/wirescope's default: no copytruncate): the file is moved
away, then the agent gets SIGHUP. Checks:

  - after SIGHUP a fresh eve.json appears and gets new records;
  - the moved file stops growing and keeps every line it had, each a
    whole JSON line (the reopen drains into it before switching);
  - at SIGTERM every record the summary counts is in one of the files, and
    every packet the summary counts is in some record: nothing lost, nothing
    doubled;
  - then (when logrotate is installed) the same by the real logrotate run on
    the shipped file, with its path and postrotate command pointed at this
    run: a second rotation, eve.json.1 compressed later (delaycompress).
"""
import os
import gzip
import re
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import agent_common as ac  # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
DEMO = os.path.join(ROOT, "deploy", "demo", "demo.pcap")
SHIPPED = os.path.join(ROOT, "deploy", "logrotate", "wirescope")


def lines(path):
    with open(path, "rb") as f:
        return f.read().count(b"\n")


def shipped_for_test(out, pid):
    """The shipped logrotate file with its log path and postrotate pointed at this run."""
    with open(SHIPPED) as f:
        text = f.read()
    text, n = re.subn(r"/var/log/wirescope/\*\.json", os.path.join(out, "*.json"), text)
    if n != 1:
        raise ValueError(f"{SHIPPED}: expected one /var/log/wirescope/*.json stanza, found {n}")
    text, n = re.subn(r"systemctl kill -s HUP[^\n]*", f"kill -HUP {pid}", text)
    if n != 1:
        raise ValueError(f"{SHIPPED}: expected one 'systemctl kill -s HUP' postrotate, found {n}")
    return text


def body(c, cleanup):
    if len(sys.argv) < 2:
        print(f"usage: {sys.argv[0]} WIRESCOPE", file=sys.stderr)
        sys.exit(2)
    ws = os.path.abspath(sys.argv[1])
    tmp = ac.temp_dir(cleanup, "ws-rotate-")
    out = os.path.join(tmp, "log")
    os.makedirs(out)
    eve = os.path.join(out, "eve.json")
    agent = ac.Background([ws, "-r", DEMO, "--loop", "--replay-speed", "20", "-l", out, "--workers", "2"],
                          os.path.join(tmp, "agent.log"), cleanup)
    if not c.check(ac.wait_for(lambda: os.path.exists(eve) and lines(eve) >= 20, 60, 0.05),
                   "the agent writes eve.json", agent.output()):
        return

    moved = os.path.join(out, "eve.json.1")
    os.rename(eve, moved)
    agent.proc.send_signal(signal.SIGHUP)
    c.check(ac.wait_for(lambda: os.path.exists(eve) and lines(eve) >= 5, 60, 0.05),
            "after move + SIGHUP a fresh eve.json gets new records", agent.output())
    at_switch = lines(moved)
    time.sleep(1.0)
    c.equal(lines(moved), at_switch, "the moved file no longer grows")

    rotations = 1
    logrotate = shutil.which("logrotate", path="/usr/sbin:/usr/bin:/sbin:/bin")
    if logrotate and os.path.exists(SHIPPED):
        conf = os.path.join(tmp, "logrotate.conf")
        with open(conf, "w") as f:
            f.write(shipped_for_test(out, agent.proc.pid))
        before = lines(eve)
        r = subprocess.run([logrotate, "-f", "-s", os.path.join(tmp, "state"), conf],
                           capture_output=True, text=True, timeout=60)
        c.equal(r.returncode, 0, "logrotate -f on the shipped file (paths pointed at this run)",
                r.stdout + r.stderr)
        rotations += 1
        c.check(ac.wait_for(lambda: os.path.exists(eve) and lines(eve) >= 5, 60, 0.05),
                "after logrotate a fresh eve.json gets new records", agent.output())
        c.check(os.path.exists(os.path.join(out, "eve.json.1")) and lines(os.path.join(out, "eve.json.1")) >= before,
                "logrotate's eve.json.1 holds the lines of the file it rotated", os.listdir(out))
        c.check(os.path.exists(os.path.join(out, "eve.json.2")) or os.path.exists(os.path.join(out, "eve.json.2.gz")),
                "the first rotation's file moved on to eve.json.2", os.listdir(out))
    else:
        print("  (logrotate not installed: the shipped file's rotation is not run)")

    rc, _ = agent.stop(signal.SIGTERM, 30)
    c.equal(rc, 0, "SIGTERM: exit status 0", agent.output())
    log = agent.output()
    c.check("reload failed" not in log, "SIGHUP without rules or config is no failed reload", log)
    s = ac.parse_summary("\n".join(l for l in log.splitlines() if " packets, " in l))
    if not c.check(s is not None, "summary line printed", agent.output()):
        return
    files = sorted(os.listdir(out))
    records, errors = [], []
    for name in files:
        path = os.path.join(out, name)
        if name.endswith(".gz"):
            with gzip.open(path, "rb") as f, open(path[:-3], "wb") as g:
                g.write(f.read())
            path = path[:-3]
        r, e = ac.read_eve(path)
        records += r
        errors += e
    c.check(len(files) == rotations + 1, f"{rotations + 1} files: {files}")
    c.check(not errors, "every line of every file is whole JSON", "\n".join(errors[:5]))
    c.equal(len(records), s["records"], "records in all files = the summary's records (nothing lost or doubled)")
    pkts, byts = ac.eve_totals(records)
    c.equal(pkts, s["packets"], "every packet counted is in a record of some file")
    c.equal(byts, s["bytes"], "every byte counted is in a record of some file")


if __name__ == "__main__":
    ac.main("logrotate_agent", body)
