"""Shared pieces of the end-to-end tests of the wirescope binary.

Each agent_*.py test is a plain script that meson runs as
`python3 agent_x.py WIRESCOPE WIRESCOPE_GEN`: it generates a capture with
wirescope-gen (whose --truth file gives exact totals), runs the agent on it
and checks what comes out against the truth and against real programs
(nfcapd/nfdump, tshark, tcpreplay). Exit status: 0 pass, 1 fail, 77 skip
(meson's "skipped": a needed program or root is missing).

Everything a test starts is stopped, and every temp dir and network
namespace it makes is removed, also when a check fails or meson's timeout
sends SIGTERM: cleanups are registered on a Cleanup stack that runs from
`finally`, and SIGTERM is turned into SystemExit so that `finally` runs.
"""

import base64
import hashlib
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

SKIP = 77


def skip(reason):
    print(f"SKIP: {reason}", flush=True)
    sys.exit(SKIP)


def need_program(name, package=None):
    path = shutil.which(name, path=os.environ.get("PATH", "/usr/bin:/bin") + ":/usr/sbin:/sbin")
    if not path:
        skip(f"{name} not installed" + (f" (Debian package {package})" if package else ""))
    return path


def need_root(why):
    if os.geteuid() != 0:
        skip(f"needs root: {why}")


def programs():
    """(wirescope, wirescope-gen) from the command line, checked."""
    if len(sys.argv) < 3:
        print(f"usage: {sys.argv[0]} WIRESCOPE WIRESCOPE_GEN", file=sys.stderr)
        sys.exit(2)
    ws, gen = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    for p in (ws, gen):
        if not os.access(p, os.X_OK):
            skip(f"{p} is not built")
    return ws, gen


class Checks:
    """Collects failures so that one run reports all of them."""

    def __init__(self, name):
        self.name = name
        self.failures = []
        self.passed = 0

    def check(self, cond, what, detail=""):
        if cond:
            self.passed += 1
            print(f"  ok   {what}", flush=True)
        else:
            self.failures.append(what)
            print(f"  FAIL {what}" + (f"\n{indent(detail)}" if detail else ""), flush=True)
        return bool(cond)

    def equal(self, got, want, what, detail=""):
        return self.check(got == want, f"{what}: got {short(got)}, want {short(want)}", detail)

    def finish(self):
        print(f"{self.name}: {self.passed} passed, {len(self.failures)} failed", flush=True)
        for f in self.failures:
            print(f"  failed: {f}")
        return 1 if self.failures else 0


def short(v, n=300):
    s = repr(v)
    return s if len(s) <= n else s[:n] + "..."


def indent(text, n=7):
    text = text if len(text) < 6000 else text[:3000] + "\n...\n" + text[-3000:]
    return "\n".join(" " * n + line for line in text.splitlines())


class Cleanup:
    """A stack of undo actions, run in reverse order; errors are printed, not raised."""

    def __init__(self):
        self._undo = []

    def add(self, fn, *args):
        self._undo.append((fn, args))

    def run(self):
        while self._undo:
            fn, args = self._undo.pop()
            try:
                fn(*args)
            except Exception as e:  # keep cleaning up the rest
                print(f"cleanup: {getattr(fn, '__name__', fn)}: {e}", file=sys.stderr)


def _sigterm_to_exit(signum, frame):
    raise SystemExit(f"stopped by signal {signum}")


def main(name, body):
    """Runs body(checks, cleanup) and exits with the test's status."""
    signal.signal(signal.SIGTERM, _sigterm_to_exit)
    checks = Checks(name)
    cleanup = Cleanup()
    try:
        body(checks, cleanup)
    except Exception:
        import traceback

        traceback.print_exc()
        checks.failures.append("exception (see above)")
    finally:
        cleanup.run()
    sys.exit(checks.finish())


def temp_dir(cleanup, prefix="ws-agent-"):
    d = tempfile.mkdtemp(prefix=prefix)
    if not os.environ.get("WS_KEEP_TMP"):
        cleanup.add(shutil.rmtree, d, True)
    else:
        print(f"keeping {d}")
    return d


# --- capture files ----------------------------------------------------------


def generate(gen, out_dir, name="cap", packets=100000, flows=3000, seed=1, ipv6_share=None,
             vlan_share=None, duration_s=None):
    """Writes a capture and its truth; returns (pcap path, truth dict)."""
    pcap = os.path.join(out_dir, name + ".pcap")
    truth = os.path.join(out_dir, name + ".truth.json")
    cmd = [gen, "--out", pcap, "--truth", truth, "--packets", str(packets), "--flows", str(flows),
           "--seed", str(seed)]
    if ipv6_share is not None:
        cmd += ["--ipv6-share", str(ipv6_share)]
    if vlan_share is not None:
        cmd += ["--vlan-share", str(vlan_share)]
    if duration_s is not None:
        cmd += ["--duration-s", str(duration_s)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(f"wirescope-gen failed ({r.returncode}): {r.stderr.strip()}")
    with open(truth) as f:
        return pcap, json.load(f)


def pcap_records(path):
    """Offsets (start, end) of every complete record of a classic pcap file."""
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack_from("<I", data, 0)[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        endian = "<"
    elif magic in (0xD4C3B2A1, 0x4D3CB2A1):
        endian = ">"
    else:
        raise ValueError(f"{path}: not a classic pcap file")
    out = []
    at = 24
    while at + 16 <= len(data):
        incl = struct.unpack_from(endian + "I", data, at + 8)[0]
        end = at + 16 + incl
        if end > len(data):
            break
        out.append((at, end))
        at = end
    return out


# --- running the agent --------------------------------------------------------

SUMMARY_RE = re.compile(
    r"^wirescope: (?P<packets>\d+) packets, (?P<bytes>\d+) bytes, (?P<flows>\d+) flows, "
    r"(?P<records>\d+) records(?:, (?P<alerts>\d+) alerts)?, (?P<dropped>\d+) dropped(?: \((?P<reasons>[^)]*)\))?, "
    r"(?P<mpps>[\d.]+) Mpps in (?P<seconds>[\d.]+) s$")


def parse_summary(stdout):
    """The agent's one-line summary as a dict (ints, 'drops' a dict), or None
    when there is none or more than one. Other lines the agent logs (an
    interface's offloads, a link going down) may stand around it."""
    found = [m for m in (SUMMARY_RE.match(l.strip()) for l in stdout.splitlines()) if m]
    if len(found) != 1:
        return None
    m = found[0]
    s = {k: int(m.group(k)) for k in ("packets", "bytes", "flows", "records", "dropped")}
    s["alerts"] = int(m.group("alerts")) if m.group("alerts") else None
    s["seconds"] = float(m.group("seconds"))
    s["drops"] = {}
    if m.group("reasons"):
        for part in m.group("reasons").split():
            k, _, v = part.partition("=")
            s["drops"][k] = int(v)
    return s


def run_agent(wirescope, args, timeout=120, prefix=()):
    """Runs the agent to completion; returns the CompletedProcess (text)."""
    cmd = list(prefix) + [wirescope] + list(args)
    print(f"$ {' '.join(cmd)}", flush=True)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if r.stdout.strip():
        print(indent(r.stdout.strip(), 4))
    if r.stderr.strip():
        print(indent(r.stderr.strip(), 4))
    return r


class Background:
    """A program running in the background, output to a log file."""

    def __init__(self, cmd, log_path, cleanup, env=None):
        print(f"$ {' '.join(cmd)} &", flush=True)
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        cleanup.add(self.kill)

    def running(self):
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Sends sig and waits; returns (exit status or None, seconds waited)."""
        t0 = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                return None, time.monotonic() - t0
        return self.proc.returncode, time.monotonic() - t0

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self.log.closed:
            self.log.close()

    def output(self):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")


# --- EVE records ----------------------------------------------------------------


def read_eve(path):
    """(records, errors): parsed lines of an eve.json, and one message per bad line."""
    records, errors = [], []
    if not os.path.exists(path):
        return records, [f"{path} does not exist"]
    with open(path, "rb") as f:
        for n, line in enumerate(f, 1):
            try:
                j = json.loads(line)
                if not isinstance(j, dict):
                    raise ValueError("not an object")
                records.append(j)
            except ValueError as e:
                errors.append(f"{path}:{n}: {e}: {line[:200]!r}")
    return records, errors


def eve_totals(records):
    pkts = sum(r["flow"]["pkts_toserver"] + r["flow"]["pkts_toclient"] for r in records)
    byts = sum(r["flow"]["bytes_toserver"] + r["flow"]["bytes_toclient"] for r in records)
    return pkts, byts


def is_icmp(proto):
    return proto in ("ICMP", "IPv6-ICMP", 1, 58)


def outer_vlan(r):
    v = r.get("vlan")
    return v[0] if v else 0


def eve_ip(text):
    """An EVE address in the RFC 5952 form other tools print: eve.json
    writes IPv6 as Suricata does, eight zero-padded groups."""
    return str(ipaddress.ip_address(text))


def eve_directions(records):
    """Packets and bytes per direction: (vlan, proto, src, sport, dst, dport) -> [pkts, bytes].

    A flow that a timeout split into several records adds up here; ICMP
    has no ports (0, 0), so echo flows between the same hosts add up too.
    """
    out = {}
    for r in records:
        f = r["flow"]
        icmp = is_icmp(r["proto"])
        sp = 0 if icmp else r.get("src_port", 0)
        dp = 0 if icmp else r.get("dest_port", 0)
        v = outer_vlan(r)
        src, dst = eve_ip(r["src_ip"]), eve_ip(r["dest_ip"])
        for key, p, b in (((v, r["proto"], src, sp, dst, dp), f["pkts_toserver"], f["bytes_toserver"]),
                          ((v, r["proto"], dst, dp, src, sp), f["pkts_toclient"], f["bytes_toclient"])):
            if p == 0:
                continue
            acc = out.setdefault(key, [0, 0])
            acc[0] += p
            acc[1] += b
    return out


def uniflow_count(records):
    """Records an exporter of uniflows sends: one per direction that carried packets."""
    return sum((r["flow"]["pkts_toserver"] > 0) + (r["flow"]["pkts_toclient"] > 0) for r in records)


# Community ID v1 (https://github.com/corelight/community-id-spec), seed 0.
_ICMP4_PAIRS = {8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 10: 9, 9: 10, 17: 18, 18: 17}
_ICMP6_PAIRS = {128: 129, 129: 128, 133: 134, 134: 133, 135: 136, 136: 135, 130: 131, 131: 130,
                144: 145, 145: 144}
_PROTO_NUM = {"TCP": 6, "UDP": 17, "ICMP": 1, "IPv6-ICMP": 58, "SCTP": 132}


def community_id(r, seed=0):
    """The community ID an EVE flow record should carry, computed from its fields."""
    proto = _PROTO_NUM.get(r["proto"])
    if proto is None:
        proto = int(r["proto"]) if str(r["proto"]).isdigit() else 0
    src = ipaddress.ip_address(r["src_ip"]).packed
    dst = ipaddress.ip_address(r["dest_ip"]).packed
    one_way = False
    if proto in (1, 58):
        t, c = r.get("icmp_type", 0), r.get("icmp_code", 0)
        pairs = _ICMP4_PAIRS if proto == 1 else _ICMP6_PAIRS
        if t in pairs:
            sport, dport = t, pairs[t]
        else:
            sport, dport, one_way = t, c, True
    elif proto in (6, 17, 132):
        sport, dport = r.get("src_port", 0), r.get("dest_port", 0)
    else:
        sport = dport = None
    if not one_way and (src > dst or (src == dst and sport is not None and sport > dport)):
        src, dst, sport, dport = dst, src, dport, sport
    data = struct.pack("!H", seed) + src + dst + struct.pack("!BB", proto, 0)
    if sport is not None:
        data += struct.pack("!HH", sport, dport)
    return "1:" + base64.b64encode(hashlib.sha1(data).digest()).decode()


# --- UDP ----------------------------------------------------------------------

SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)


def free_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def udp_port_taken(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", port))
        return False
    except OSError:
        return True
    finally:
        s.close()


def udp_rx_queue(port):
    """Bytes waiting in the receive queue of the socket bound to port (/proc/net/udp), or -1."""
    want = f":{port:04X}"
    try:
        with open("/proc/net/udp") as f:
            next(f)
            for line in f:
                parts = line.split()
                if len(parts) > 4 and parts[1].endswith(want):
                    return int(parts[4].split(":")[1], 16)
    except OSError:
        pass
    return -1


def free_tcp_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port, path, token=None, timeout=5):
    """GET http://127.0.0.1:PORT/PATH with an optional Bearer token: (status, body text);
    status None (and the error as body) when nothing answered."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError as e:
        return None, str(e)


def wait_for(cond, timeout, step=0.02):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return cond()


class UdpReceiver:
    """Receives datagrams on 127.0.0.1:<ephemeral> in a thread, keeping them in order."""

    def __init__(self, cleanup):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for opt in (SO_RCVBUFFORCE, socket.SO_RCVBUF):  # beyond rmem_max when root
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, opt, 32 << 20)
                break
            except OSError:
                continue
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.datagrams = []
        self.last_rx = time.monotonic()
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        cleanup.add(self.close)

    def _run(self):
        while not self._stop:
            try:
                d = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            self.datagrams.append((time.time(), d))
            self.last_rx = time.monotonic()

    def wait_quiet(self, quiet=0.5, timeout=20):
        """Waits until nothing has arrived for `quiet` seconds."""
        wait_for(lambda: time.monotonic() - self.last_rx >= quiet, timeout)

    def close(self):
        self._stop = True
        self._thread.join(timeout=2)
        self.sock.close()

    def write_pcap(self, path, src_port=40000):
        """The datagrams as Ethernet/IPv4/UDP frames 127.0.0.1:src_port -> 127.0.0.1:port."""
        with open(path, "wb") as f:
            f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
            for n, (ts, d) in enumerate(self.datagrams):
                udp = struct.pack("!HHHH", src_port, self.port, 8 + len(d), 0) + d
                ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), n & 0xFFFF, 0x4000, 64, 17, 0,
                                 bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
                ip = ip[:10] + struct.pack("!H", ip_checksum(ip)) + ip[12:]
                frame = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00" + ip + udp
                sec = int(ts)
                f.write(struct.pack("<IIII", sec, int((ts - sec) * 1e6), len(frame), len(frame)))
                f.write(frame)


def ip_checksum(hdr):
    s = sum(struct.unpack(f"!{len(hdr) // 2}H", hdr))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


# --- network namespaces -------------------------------------------------------


def sh(cmd, check=True):
    """Runs a command (list); returns stdout. Raises with its stderr when check and it fails."""
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {r.returncode}: {r.stderr.strip()}")
    return r.stdout


def remove_stale_namespaces(prefix):
    """Deletes namespaces PREFIX<pid> whose process is gone (left by a crashed run)."""
    try:
        names = os.listdir("/run/netns")
    except OSError:
        return
    for n in names:
        if not n.startswith(prefix) or not n[len(prefix):].isdigit():
            continue
        pid = int(n[len(prefix):])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            sh(["ip", "netns", "del", n], check=False)
        except PermissionError:
            pass


def make_netns(name, cleanup):
    """A new network namespace with lo up and IPv6 off (no neighbour discovery chatter)."""
    sh(["ip", "netns", "add", name])
    cleanup.add(sh, ["ip", "netns", "del", name], False)
    sh(["ip", "-n", name, "link", "set", "lo", "up"])
    for key in ("all", "default"):
        sh(["ip", "netns", "exec", name, "sysctl", "-qw", f"net.ipv6.conf.{key}.disable_ipv6=1"])
    return name
