#!/usr/bin/python3
"""SIGINT and SIGTERM end the agent cleanly: exit 0 within 2 s, every flow flushed.

  - replaying a file forever (-r CAP --loop, 2 workers), mid-replay
  - capturing live on lo inside a network namespace made for the run
    (root only; both capture methods), after some traffic, and idle

Each time: exit status 0 within 2 s of the signal, the one-line summary on
stdout, records ending with reason "shutdown" in eve.json, and every packet
the summary counts is in some record (nothing left in the flow table).
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agent_common as ac  # noqa: E402

EXIT_WITHIN_S = 2.0


def check_stopped(c, agent, out, what, sig, want_packets_min):
    rc, secs = agent.stop(sig, 10)
    text = agent.output()
    c.check(rc == 0 and secs <= EXIT_WITHIN_S,
            f"{what}: exit status 0 within {EXIT_WITHIN_S} s of {sig.name} (got {rc} after {secs:.2f} s)", text)
    s = ac.parse_summary(text)
    if not c.check(s is not None, f"{what}: summary line printed and parses", text):
        return
    records, errors = ac.read_eve(os.path.join(out, "eve.json"))
    c.check(not errors, f"{what}: eve.json lines are JSON", "\n".join(errors[:5]))
    c.check(s["packets"] >= want_packets_min, f"{what}: {s['packets']} packets seen (>= {want_packets_min})")
    shutdown = [r for r in records if r["flow"]["reason"] == "shutdown"]
    c.check(shutdown, f"{what}: {len(shutdown)} records with reason 'shutdown'")
    pkts, byts = ac.eve_totals(records)
    c.equal(pkts, s["packets"], f"{what}: every packet counted is in a flushed record")
    c.equal(byts, s["bytes"], f"{what}: every byte counted is in a flushed record")
    c.equal(len(records), s["records"], f"{what}: eve.json lines = summary records")
    c.equal(s["dropped"], 0, f"{what}: nothing dropped", str(s["drops"]))


def eve_lines(path):
    try:
        with open(path, "rb") as f:
            return f.read().count(b"\n")
    except OSError:
        return 0


def loop_case(c, ws, cap, truth, tmp, cleanup, sig):
    what = f"--loop, {sig.name}"
    print(f"-- {what}")
    out = os.path.join(tmp, f"loop-{sig.name}")
    os.mkdir(out)
    agent = ac.Background([ws, "-r", cap, "--loop", "--workers", "2", "-l", out],
                          os.path.join(tmp, f"loop-{sig.name}.log"), cleanup)
    # Mid-replay: records are being written (flows of earlier rounds timed out).
    ac.wait_for(lambda: eve_lines(os.path.join(out, "eve.json")) > 0 or not agent.running(), 20)
    time.sleep(0.3)
    c.check(agent.running(), f"{what}: still replaying when signalled", agent.output())
    check_stopped(c, agent, out, what, sig, truth["packets"] + 1)


def live_case(c, ws, ns, tmp, cleanup, sig, method, traffic):
    what = f"live lo {method}, {'traffic' if traffic else 'idle'}, {sig.name}"
    print(f"-- {what}")
    out = os.path.join(tmp, f"lo-{method}-{sig.name}-{int(traffic)}")
    os.mkdir(out)
    agent = ac.Background(["ip", "netns", "exec", ns, ws, "-i", "lo", "--capture", method, "--workers", "2",
                           "-l", out], out + ".log", cleanup)
    time.sleep(1.0)
    if not c.check(agent.running(), f"{what}: agent running", agent.output()):
        return
    if traffic:
        send = ("import socket\n"
                "r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(('127.0.0.1', 0))\n"
                "for p in range(5):\n"
                "    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                "    for i in range(4): s.sendto(b'x' * 200, r.getsockname())\n")
        ac.sh(["ip", "netns", "exec", ns, "/usr/bin/python3", "-c", send])
        time.sleep(0.3)
    if traffic:
        check_stopped(c, agent, out, what, sig, 20)
    else:
        rc, secs = agent.stop(sig, 10)
        text = agent.output()
        c.check(rc == 0 and secs <= EXIT_WITHIN_S,
                f"{what}: exit status 0 within {EXIT_WITHIN_S} s of {sig.name} (got {rc} after {secs:.2f} s)", text)
        s = ac.parse_summary(text)
        if c.check(s is not None, f"{what}: summary line printed and parses", text):
            c.equal(s["packets"], 0, f"{what}: no packets on an idle lo")


def body(c, cleanup):
    ws, gen = ac.programs()
    tmp = ac.temp_dir(cleanup)
    cap, truth = ac.generate(gen, tmp, packets=20000, flows=800, seed=2)
    for sig in (ac.signal.SIGINT, ac.signal.SIGTERM):
        loop_case(c, ws, cap, truth, tmp, cleanup, sig)

    if os.geteuid() != 0 or not ac.shutil.which("ip", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin"):
        print("live cases skipped: need root and ip(8) for a network namespace")
        return
    ac.remove_stale_namespaces("wssig")
    try:
        ns = ac.make_netns(f"wssig{os.getpid()}", cleanup)
    except RuntimeError as e:
        print(f"live cases skipped: {e}")
        return
    for method in ("afpacket", "pcap"):
        for sig in (ac.signal.SIGINT, ac.signal.SIGTERM):
            live_case(c, ws, ns, tmp, cleanup, sig, method, traffic=True)
        live_case(c, ws, ns, tmp, cleanup, ac.signal.SIGTERM, method, traffic=False)


if __name__ == "__main__":
    ac.main("agent_signals", body)
