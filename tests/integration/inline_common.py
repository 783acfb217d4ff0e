#!/usr/bin/python3
"""Inline test and benchmark topology, and the small programs run inside it.

    ns C (client)            ns M (agent)                ns S (server)
    c0 10.77.N.1 ==veth== m0  [wirescope --inline m0:m1]  m1 ==veth== s0 10.77.N.2

Namespace names end in a per-run tag (pid and a counter), so tests running
in parallel do not collide; Topology.remove() runs from the test's cleanup
even when it fails. Offloads that make frames larger than the MTU on a veth
(TSO, GSO, GRO) are off on the hosts' interfaces c0 and s0: a veth hands a
TSO frame to its peer whole, where a wire carries MTU-sized packets.
Transmit checksum offload stays on, so the agent completes checksums. On
the agent's m0 and m1 they are off too, unless create(agent_gro=True):
then GRO is on there, as many NICs ship, and the agent turns it off itself
(input.disable_offloading).

Run as a program (`inline_common.py MODE ARGS`, inside a namespace) it is
one of the helpers: tcp-server, tcp-client, raw-send, raw-recv, udp-echo,
udp-rtt.
"""
import itertools
import json
import os
import socket
import struct
import subprocess
import sys
import time

_count = itertools.count()
HERE = os.path.abspath(__file__)


def sh(cmd, check=True):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.returncode}: {r.stderr.strip()}")
    return r.stdout


class Topology:
    def __init__(self, tag=None):
        n = next(_count)
        self.tag = tag or f"{os.getpid() % 100000}{n}"
        self.c, self.m, self.s = f"wsiC{self.tag}", f"wsiM{self.tag}", f"wsiS{self.tag}"
        self.net = 10 + (os.getpid() + n) % 240
        self.c_ip, self.s_ip = f"10.77.{self.net}.1", f"10.77.{self.net}.2"

    def create(self, agent_gro=False):
        for ns in (self.c, self.m, self.s):
            sh(["ip", "netns", "add", ns])
        sh(["ip", "link", "add", "c0", "netns", self.c, "type", "veth", "peer", "name", "m0", "netns", self.m])
        sh(["ip", "link", "add", "m1", "netns", self.m, "type", "veth", "peer", "name", "s0", "netns", self.s])
        for ns, ifs in ((self.c, ["c0"]), (self.m, ["m0", "m1"]), (self.s, ["s0"])):
            self.ns(ns, ["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"])
            for i in ifs:
                if ns == self.m and agent_gro:
                    self.ns(ns, ["ethtool", "-K", i, "gro", "on"])
                else:
                    self.ns(ns, ["ethtool", "-K", i, "tso", "off", "gso", "off", "gro", "off"])
                self.ns(ns, ["ip", "link", "set", i, "up"])
            self.ns(ns, ["ip", "link", "set", "lo", "up"])
        self.ns(self.c, ["ip", "addr", "add", self.c_ip + "/24", "dev", "c0"])
        self.ns(self.s, ["ip", "addr", "add", self.s_ip + "/24", "dev", "s0"])
        return self

    def ns(self, ns, cmd, check=True):
        return sh(["ip", "netns", "exec", ns] + cmd, check)

    def helper(self, ns, *args):
        return ["ip", "netns", "exec", ns, sys.executable, HERE] + [str(a) for a in args]

    def run_helper(self, ns, *args, timeout=60):
        r = subprocess.run(self.helper(ns, *args), capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"helper {args[0]} in {ns}: {r.stderr.strip()}")
        return json.loads(r.stdout)

    def offload(self, ns, ifc, name="generic-receive-offload"):
        """An offload's state as `ethtool -k` prints it: "on", "off", ..."""
        for line in self.ns(ns, ["ethtool", "-k", ifc]).splitlines():
            if line.startswith(name + ":"):
                return line.split(":", 1)[1].split()[0]
        return None

    def mac(self, ns, ifc):
        return self.ns(ns, ["cat", f"/sys/class/net/{ifc}/address"]).strip()

    def remove(self):
        for ns in (self.c, self.m, self.s):
            sh(["ip", "netns", "del", ns], check=False)


# --- helpers, run inside a namespace -------------------------------------------


def start_agent(topo, ws, tmp, cleanup, admin_token, workers, extra=()):
    """Starts the agent bridging m0:m1 in the middle namespace with its API
    (one admin token); returns (agent, API port), the port None if it did
    not come up."""
    import hashlib
    import re

    import agent_common as ac

    conf = os.path.join(tmp, "ws.yaml")
    with open(conf, "w") as f:
        f.write(f"""inline:
  - {{a: m0, b: m1}}
api:
  tokens:
    - {{name: ops, role: admin, token_sha256: "{hashlib.sha256(admin_token.encode()).hexdigest()}"}}
""")
    agent = ac.Background(["ip", "netns", "exec", topo.m, ws, "-c", conf, "--workers", str(workers), "--api",
                           "127.0.0.1:0", *extra], os.path.join(tmp, "agent.log"), cleanup)
    pattern = r"api listening on [0-9.]+:(\d+)"
    ac.wait_for(lambda: re.search(pattern, agent.output()) or not agent.running(), 20)
    m = re.search(pattern, agent.output())
    return agent, int(m.group(1)) if m else None


def api_call(topo, port, token, method, path, data=None, content_type="application/json"):
    """One API request from inside the middle namespace (where the API
    listens): (status, body text)."""
    body = data.encode() if data is not None else None
    code = ("import urllib.request,sys\n"
            f"r=urllib.request.Request('http://127.0.0.1:{port}{path}',method='{method}',data={body!r},"
            f"headers={{'Authorization':'Bearer {token}','Content-Type':'{content_type}'}})\n"
            "try:\n  x=urllib.request.urlopen(r,timeout=10);print(x.status);print(x.read().decode())\n"
            "except urllib.error.HTTPError as e:\n  print(e.code);print(e.read().decode())\n")
    out = topo.ns(topo.m, [sys.executable, "-c", code])
    st, _, rest = out.partition("\n")
    return int(st), rest


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def udp_frame(src_mac, dst_mac, src_ip, dst_ip, sport, dport, payload):
    """An Ethernet/IPv4/UDP frame with correct checksums."""
    s, d = socket.inet_aton(src_ip), socket.inet_aton(dst_ip)
    ulen = 8 + len(payload)
    ph = s + d + struct.pack("!BBH", 0, 17, ulen)
    udp = struct.pack("!HHHH", sport, dport, ulen, 0) + payload
    c = csum(ph + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", c) + udp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + ulen, 0x1234, 0, 64, 17, 0, s, d)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    mac = lambda m: bytes(int(x, 16) for x in m.split(":"))
    return mac(dst_mac) + mac(src_mac) + b"\x08\x00" + ip + udp


def _tcp_server(port):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", int(port)))
    srv.listen(16)
    print("listening", flush=True)
    import threading

    def serve(c):
        with c:
            while True:
                try:
                    b = c.recv(65536)
                except ConnectionResetError:
                    print("reset", flush=True)  # a RST reached this side of the connection
                    return
                except OSError:
                    return
                if not b:
                    return
                c.sendall(b)

    while True:
        c, _ = srv.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


def _tcp_client(host, port, *msgs):
    """Sends each message on one connection and says what came back."""
    out = []
    try:
        s = socket.create_connection((host, int(port)), timeout=3)
    except OSError as e:
        print(json.dumps([f"connect: {e}"]))
        return
    s.settimeout(2)
    for m in msgs:
        try:
            s.sendall(m.encode())
            got = b""
            while len(got) < len(m):
                b = s.recv(65536)
                if not b:
                    break
                got += b
            out.append("echo" if got == m.encode() else f"short:{got!r}")
        except socket.timeout:
            out.append("timeout")
        except ConnectionResetError:
            out.append("reset")
        except OSError as e:
            out.append(f"error:{e}")
    s.close()
    print(json.dumps(out))


def _raw_send(ifc, hexframes):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((ifc, 0))
    for h in hexframes.split(","):
        s.send(bytes.fromhex(h))
        time.sleep(0.01)
    print(json.dumps("sent"))


SOL_PACKET, PACKET_AUXDATA = 263, 8
TP_STATUS_VLAN_VALID, TP_STATUS_VLAN_TPID_VALID = 0x10, 0x40


def _raw_recv(ifc, marker_hex, count, timeout):
    """Frames arriving on ifc that contain the marker, as hex, as they were
    on the wire: the receiving kernel moves the outer VLAN tag (802.1Q or
    802.1ad) into metadata (PACKET_AUXDATA), and it is put back here with
    the TPID the kernel saw."""
    marker = bytes.fromhex(marker_hex)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    s.bind((ifc, 0))
    s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    s.settimeout(0.2)
    print("ready", file=sys.stderr, flush=True)
    got = []
    deadline = time.time() + float(timeout)
    while time.time() < deadline and len(got) < int(count):
        try:
            b, anc, _, addr = s.recvmsg(65536, socket.CMSG_SPACE(32))
        except socket.timeout:
            continue
        if addr[2] == socket.PACKET_OUTGOING:
            continue
        for level, kind, data in anc:
            if level != SOL_PACKET or kind != PACKET_AUXDATA or len(data) < 20:
                continue
            status, _, _, _, _, tci, tpid = struct.unpack("IIIHHHH", data[:20])
            if status & TP_STATUS_VLAN_VALID:
                tpid = tpid if status & TP_STATUS_VLAN_TPID_VALID else 0x8100
                b = b[:12] + struct.pack("!HH", tpid, tci) + b[12:]
        if marker in b:
            got.append(b.hex())
    print(json.dumps(got))


def _udp_echo(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", int(port)))
    print("listening", flush=True)
    while True:
        b, a = s.recvfrom(2048)
        s.sendto(b, a)


def _udp_rtt(host, port, n, interval):
    """Round trips of n small datagrams, in microseconds."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1)
    rtts, lost = [], 0
    for i in range(int(n)):
        t0 = time.perf_counter_ns()
        s.sendto(struct.pack("!Q", i), (host, int(port)))
        try:
            while True:
                b, _ = s.recvfrom(64)
                if struct.unpack("!Q", b[:8])[0] == i:
                    break
            rtts.append((time.perf_counter_ns() - t0) / 1000)
        except socket.timeout:
            lost += 1
        time.sleep(float(interval))
    print(json.dumps({"rtt_us": rtts, "lost": lost}))


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    {"tcp-server": _tcp_server, "tcp-client": _tcp_client, "raw-send": _raw_send, "raw-recv": _raw_recv,
     "udp-echo": _udp_echo, "udp-rtt": _udp_rtt}[mode](*args)
