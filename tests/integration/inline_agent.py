#!/usr/bin/python3
"""Inline mode end to end (needs root): the agent bridges two veth pairs in a
middle namespace (inline_common.Topology) with two workers.

  - frames pass both ways: TCP echo, iperf3 TCP both directions;
  - MTU-sized frames (1514 bytes) arrive byte for byte unchanged, both ways;
  - a `drop` rule on a content, added over REST (POST /api/v1/rules, admin
    token), blocks the matching packet and TCP's retransmissions of it, so the
    connection stalls; a new flow still passes; the EVE alert says "blocked";
  - QinQ frames (an 802.1ad outer tag, which the kernel strips into
    metadata, and an 802.1Q inner one) arrive byte for byte unchanged;
  - a `reject` rule resets the client's connection (the client sees a RST)
    and not the server's; `rejectdst` resets the server's and not the
    client's; `rejectboth` resets both;
  - an inline interface goes down and comes back: the agent keeps running,
    counts it, and forwards again.
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agent_common as ac  # noqa: E402
import inline_common as ic  # noqa: E402

ADMIN = "inline-admin-token"
PORT = 7777


def body(c, cleanup):
    ac.need_root("network namespaces and AF_PACKET")
    for p in ("ip", "ethtool", "iperf3"):
        ac.need_program(p)
    ws, _ = ac.programs()
    tmp = ac.temp_dir(cleanup, "ws-inline-")
    topo = ic.Topology()
    cleanup.add(topo.remove)
    topo.create()

    agent, port = ic.start_agent(topo, ws, tmp, cleanup, ADMIN, 2, ["-l", tmp, "-v"])
    if not c.check(port is not None, "agent starts with --inline m0:m1 and the API", agent.output()):
        return

    def call(method, path, data=None):
        return ic.api_call(topo, port, ADMIN, method, path, data, "text/plain")

    server = ac.Background(topo.helper(topo.s, "tcp-server", PORT), os.path.join(tmp, "server.log"), cleanup)
    ac.wait_for(lambda: "listening" in server.output(), 10)

    print("-- forwarding")
    r = topo.run_helper(topo.c, "tcp-client", topo.s_ip, PORT, "hello", "world")
    c.equal(r, ["echo", "echo"], "TCP echo through the agent")
    ac.Background(["ip", "netns", "exec", topo.s, "iperf3", "-s", "-p", "5201"], os.path.join(tmp, "iperf3-s.log"),
                  cleanup)
    time.sleep(0.5)
    for rev in ([], ["-R"]):
        rr = subprocess.run(["ip", "netns", "exec", topo.c, "iperf3", "-c", topo.s_ip, "-p", "5201", "-t", "2", "-J"]
                            + rev, capture_output=True, text=True, timeout=60)
        ok = rr.returncode == 0
        bps = json.loads(rr.stdout)["end"]["sum_received"]["bits_per_second"] if ok else 0
        c.check(ok and bps > 1e6, f"iperf3 TCP {'server→client' if rev else 'client→server'} through the agent: "
                f"{bps / 1e6:.0f} Mbit/s", rr.stdout[-2000:] + rr.stderr)

    print("-- MTU-sized frames unchanged")
    cmac, smac = topo.mac(topo.c, "c0"), topo.mac(topo.s, "s0")
    for (src_ns, src_if, dst_ns, dst_if, smac_, dmac_, sip, dip, name) in (
            (topo.c, "c0", topo.s, "s0", cmac, smac, topo.c_ip, topo.s_ip, "client→server"),
            (topo.s, "s0", topo.c, "c0", smac, cmac, topo.s_ip, topo.c_ip, "server→client")):
        marker = os.urandom(8)
        payload = marker + bytes((i * 7) & 0xFF for i in range(1500 - 20 - 8 - 8))
        frame = ic.udp_frame(smac_, dmac_, sip, dip, 40000, 9999, payload)
        assert len(frame) == 1514
        rx = subprocess.Popen(topo.helper(dst_ns, "raw-recv", dst_if, marker.hex(), 1, 5), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
        rx.stderr.readline()  # ready
        topo.run_helper(src_ns, "raw-send", src_if, frame.hex())
        out, _ = rx.communicate(timeout=15)
        got = json.loads(out)
        c.check(len(got) == 1 and bytes.fromhex(got[0]) == frame,
                f"1514-byte frame {name} arrives unchanged", f"got {len(got)} frames")

    print("-- QinQ frames unchanged (802.1ad outer tag, 802.1Q inner)")
    for (src_ns, src_if, dst_ns, dst_if, smac_, dmac_, sip, dip, name) in (
            (topo.c, "c0", topo.s, "s0", cmac, smac, topo.c_ip, topo.s_ip, "client→server"),
            (topo.s, "s0", topo.c, "c0", smac, cmac, topo.s_ip, topo.c_ip, "server→client")):
        marker = os.urandom(8)
        inner = ic.udp_frame(smac_, dmac_, sip, dip, 40001, 9998, marker + b"qinq" * 20)
        # S-tag PCP 3 VLAN 100, C-tag VLAN 200.
        frame = inner[:12] + bytes.fromhex("88a8" "6064" "8100" "00c8") + inner[12:]
        rx = subprocess.Popen(topo.helper(dst_ns, "raw-recv", dst_if, marker.hex(), 1, 5), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
        rx.stderr.readline()  # ready
        topo.run_helper(src_ns, "raw-send", src_if, frame.hex())
        out, _ = rx.communicate(timeout=15)
        got = json.loads(out)
        c.check(len(got) == 1 and bytes.fromhex(got[0]) == frame, f"QinQ frame {name} arrives unchanged",
                f"sent {frame[:20].hex()}, got {[g[:40] for g in got]}")

    print("-- drop rule over REST")
    st, text = call("POST", "/api/v1/rules",
                    f'drop tcp any any -> any {PORT} (msg:"inline drop test"; content:"evil"; sid:9100001; rev:1;)\n')
    c.equal(st, 200, "POST /api/v1/rules with a drop rule", text)
    time.sleep(0.5)  # workers switch at their next burst or idle tick
    r = topo.run_helper(topo.c, "tcp-client", topo.s_ip, PORT, "hello", "evil!", "again")
    c.equal(r, ["echo", "timeout", "timeout"], "the matching packet and its retransmissions are dropped")
    r = topo.run_helper(topo.c, "tcp-client", topo.s_ip, PORT, "fine")
    c.equal(r, ["echo"], "a new flow still passes")

    print("-- reject rule")
    st, text = call("POST", "/api/v1/rules",
                    f'reject tcp any any -> any {PORT} (msg:"inline reject test"; content:"reject-me"; sid:9100002;)\n')
    c.equal(st, 200, "POST /api/v1/rules with a reject rule", text)
    time.sleep(0.5)
    resets = server.output().count("reset")
    r = topo.run_helper(topo.c, "tcp-client", topo.s_ip, PORT, "ok", "reject-me")
    c.equal(r, ["echo", "reset"], "reject: the client's connection is reset")
    time.sleep(1)
    c.equal(server.output().count("reset"), resets, "reject: the server's connection is not")

    print("-- rejectdst and rejectboth rules")
    st, text = call("POST", "/api/v1/rules",
                    f'rejectdst tcp any any -> any {PORT} (msg:"inline rejectdst test"; content:"reject-dst"; '
                    f'sid:9100003;)\n'
                    f'rejectboth tcp any any -> any {PORT} (msg:"inline rejectboth test"; content:"reject-both"; '
                    f'sid:9100004;)\n')
    c.equal(st, 200, "POST /api/v1/rules with rejectdst and rejectboth rules", text)
    time.sleep(0.5)
    resets = server.output().count("reset")
    r = topo.run_helper(topo.c, "tcp-client", topo.s_ip, PORT, "ok", "reject-dst")
    c.equal(r, ["echo", "timeout"], "rejectdst: the client's packet is dropped and the client gets no RST")
    c.check(ac.wait_for(lambda: server.output().count("reset") == resets + 1, 5),
            "rejectdst: the server's connection is reset", server.output()[-500:])
    resets = server.output().count("reset")
    r = topo.run_helper(topo.c, "tcp-client", topo.s_ip, PORT, "ok", "reject-both")
    c.equal(r, ["echo", "reset"], "rejectboth: the client's connection is reset")
    c.check(ac.wait_for(lambda: server.output().count("reset") == resets + 1, 5),
            "rejectboth: and the server's", server.output()[-500:])

    print("-- interface down and up")
    topo.ns(topo.m, ["ip", "link", "set", "m1", "down"])
    time.sleep(0.5)
    r = topo.run_helper(topo.c, "tcp-client", topo.s_ip, PORT, "while-down")
    c.check(r != ["echo"], f"nothing passes while m1 is down ({r})")
    topo.ns(topo.m, ["ip", "link", "set", "m1", "up"])
    ok = ac.wait_for(lambda: topo.run_helper(topo.c, "tcp-client", topo.s_ip, PORT, "back") == ["echo"], 20, 0.5)
    c.check(ok, "forwarding resumes after m1 comes back up")
    c.check(agent.running(), "the agent kept running")
    # The link watch looks every 100 ms: forwarding may resume before it
    # has seen the link come back.
    ac.wait_for(lambda: "m1 is up again" in agent.output(), 5, 0.1)
    out = agent.output()
    c.check("m1 is down" in out and "m1 is up again" in out, "the agent told of the link going down and up", out[-3000:])

    rc, _ = agent.stop(ac.signal.SIGINT, 15)
    out = agent.output()
    c.equal(rc, 0, "agent exits 0 after SIGINT", out[-3000:])
    counters = dict(l.split()[1:3] for l in out.splitlines() if l.startswith("wirescope: inline.") and
                    len(l.split()) == 3)
    c.check(int(counters.get("inline.m1.link_down", 0)) >= 1 and int(counters.get("inline.m1.link_up", 0)) >= 1,
            "inline.m1.link_down and link_up counted", str(counters))
    c.check(int(counters.get("inline.verdict_drops", 0)) >= 3,
            "verdict drops counted: the content, its retransmissions, the rejects", str(counters))
    c.check(int(counters.get("inline.rejects_sent", 0)) >= 2, "replies to the sender counted (reject, rejectboth)",
            str(counters))
    c.check(int(counters.get("inline.rejects_sent_dst", 0)) >= 2,
            "replies to the destination counted (rejectdst, rejectboth)", str(counters))
    records, errors = ac.read_eve(os.path.join(tmp, "eve.json"))
    c.equal(errors, [], "eve.json parses")
    alerts = [e for e in records if e.get("event_type") == "alert"]
    by_sid = {a["alert"]["signature_id"]: a for a in alerts}
    c.check(9100001 in by_sid and by_sid[9100001]["alert"]["action"] == "blocked",
            "EVE alert of the drop rule says blocked", json.dumps(alerts)[:2000])
    c.check(9100002 in by_sid and by_sid[9100002]["alert"]["action"] == "blocked",
            "EVE alert of the reject rule says blocked", json.dumps(alerts)[:2000])
    for sid, action in ((9100003, "rejectdst"), (9100004, "rejectboth")):
        c.check(sid in by_sid and by_sid[sid]["alert"]["action"] == "blocked",
                f"EVE alert of the {action} rule says blocked", json.dumps(alerts)[:2000])


if __name__ == "__main__":
    ac.main("inline_agent", body)
