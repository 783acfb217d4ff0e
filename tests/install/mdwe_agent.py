#!/usr/bin/python3
"""The agent needs no writable-and-executable memory (MemoryDenyWriteExecute=yes).

systemd's MemoryDenyWriteExecute is a seccomp filter refusing W+X mappings
and mprotect() that adds PROT_EXEC. Without systemd here, the test uses the
kernel's own equivalent, prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN)
(Linux 6.3+), set in the child before exec and inherited by the agent:

  - control: under PR_SET_MDWE an anonymous W+X mmap really fails;
  - the binary and every shared library it loads have no text relocations
    and no executable stack (either would make ld.so ask for W+X at start);
  - the demo capture with rules that use pcre (PCRE2 tries its JIT, which
    MDWE refuses; the matcher falls back to the interpreter) gives the same
    summary line, alerts included, with and without MDWE;
  - a DPDK port (net_pcap vdev, no hugepages) reads the same capture under
    MDWE with the same packet count (skipped without DPDK support).

The kernel's MDWE is close to, not the same as, systemd's filter (systemd also
refuses mprotect(PROT_EXEC) on mappings that were executable already); the
ELF checks cover what ld.so would do with such mappings.
"""
import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import agent_common as ac  # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
DEMO = os.path.join(ROOT, "deploy", "demo", "demo.pcap")
PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1
libc = ctypes.CDLL(None, use_errno=True)


def set_mdwe():
    if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_MDWE)")


def mdwe_supported():
    r = subprocess.run([sys.executable, "-c",
                        "import ctypes,sys; l=ctypes.CDLL(None,use_errno=True); "
                        f"sys.exit(0 if l.prctl({PR_SET_MDWE},{PR_MDWE_REFUSE_EXEC_GAIN},0,0,0)==0 else 1)"])
    return r.returncode == 0


def wx_mmap_under_mdwe():
    """True when a W+X mapping fails in a child with MDWE set."""
    code = ("import ctypes,mmap,sys; l=ctypes.CDLL(None,use_errno=True); "
            f"l.prctl({PR_SET_MDWE},{PR_MDWE_REFUSE_EXEC_GAIN},0,0,0)\n"
            "try:\n mmap.mmap(-1,4096,prot=mmap.PROT_READ|mmap.PROT_WRITE|mmap.PROT_EXEC)\nexcept OSError:\n sys.exit(3)\n"
            "sys.exit(0)")
    return subprocess.run([sys.executable, "-c", code]).returncode == 3


def libraries(ws):
    out = subprocess.run(["ldd", ws], capture_output=True, text=True, check=True).stdout
    libs = re.findall(r"=>\s+(/\S+)", out) + re.findall(r"^\s+(/\S+ld-linux\S*)", out, re.M)
    return sorted(set(os.path.realpath(p) for p in libs))


def summary(ws, args, mdwe, tmp):
    out = os.path.join(tmp, f"out-{'mdwe' if mdwe else 'plain'}-{len(os.listdir(tmp))}")
    os.makedirs(out)
    r = subprocess.run([ws] + args + ["-l", out], capture_output=True, text=True, timeout=300,
                       preexec_fn=set_mdwe if mdwe else None)
    return r, ac.parse_summary(r.stdout)


def body(c, cleanup):
    ws = os.path.abspath(sys.argv[1])
    if not mdwe_supported():
        ac.skip("the kernel has no PR_SET_MDWE (Linux 6.3+)")
    c.check(wx_mmap_under_mdwe(), "control: a W+X mmap fails under PR_SET_MDWE")

    readelf = shutil.which("readelf")
    if readelf:
        for lib in [ws] + libraries(ws):
            dyn = subprocess.run([readelf, "-dW", lib], capture_output=True, text=True).stdout
            hdr = subprocess.run([readelf, "-lW", lib], capture_output=True, text=True).stdout
            stack = [l for l in hdr.splitlines() if "GNU_STACK" in l]
            exec_stack = bool(stack) and "RWE" in stack[0]
            textrel = "TEXTREL" in dyn
            if textrel or exec_stack:
                c.check(False, f"{lib}: text relocations ({textrel}) or an executable stack ({exec_stack})")
        c.check(True, f"{1 + len(libraries(ws))} ELF files: no text relocations, no executable stack")

    tmp = tempfile.mkdtemp(prefix="ws-mdwe-")
    cleanup.add(shutil.rmtree, tmp, True)
    rules = os.path.join(tmp, "pcre.rules")
    with open(rules, "w") as f:
        f.write('alert tcp any any -> any any (msg:"payload starts with a letter"; '
                'pcre:"/^[A-Za-z]/"; sid:9100001; rev:1;)\n'
                'alert udp any any -> any 53 (msg:"dns query"; pcre:"/\\x00\\x01\\x00\\x01/"; sid:9100002; rev:1;)\n')
    args = ["-r", DEMO, "-S", rules, "--workers", "2"]
    (rp, plain), (rm, under) = summary(ws, args, False, tmp), summary(ws, args, True, tmp)
    c.check(plain is not None and rp.returncode == 0, "without MDWE: the run ends with a summary", rp.stdout + rp.stderr)
    c.check(under is not None and rm.returncode == 0, "under MDWE: the run ends with a summary", rm.stdout + rm.stderr)
    if plain and under:
        c.check((plain["alerts"] or 0) > 0, f"the pcre rules match ({plain['alerts']} alerts)", rp.stdout)
        for k in ("packets", "bytes", "flows", "records", "dropped", "alerts"):
            c.equal(under[k], plain[k], f"under MDWE: same {k}")

    help_text = subprocess.run([ws, "--help"], capture_output=True, text=True).stdout
    if "--dpdk-eal-args" not in help_text or plain is None:
        print("  (no DPDK in this build: the DPDK run is skipped)")
        return
    # A net_pcap port never ends its input: run it with the API up, wait for
    # every frame on /metrics, then stop it.
    eal = ("--no-huge -m 512 --no-pci --no-shconf --no-telemetry -l 0 --log-level=*:error "
           f"--vdev net_pcap0,rx_pcap={DEMO}")
    log = os.path.join(tmp, "dpdk.log")
    print(f"$ (PR_SET_MDWE) {ws} --capture dpdk -i net_pcap0 ... &", flush=True)
    with open(log, "wb") as lf:
        proc = subprocess.Popen([ws, "--capture", "dpdk", "-i", "net_pcap0", "--dpdk-eal-args", eal,
                                 "--workers", "1", "--api", "127.0.0.1:0"],
                                stdout=lf, stderr=subprocess.STDOUT, preexec_fn=set_mdwe)
    cleanup.add(lambda: proc.poll() is None and (proc.kill(), proc.wait()))

    def text():
        with open(log, errors="replace") as f:
            return f.read()

    def packets():
        m = re.search(r"api listening on [0-9.]+:(\d+)", text())
        if not m:
            return -1
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{m.group(1)}/metrics", timeout=5) as r:
                body = r.read().decode()
        except OSError:
            return -1
        v = re.search(r"^wirescope_packets_total(?:\{[^}]*\})? (\S+)$", body, re.M)
        return float(v.group(1)) if v else -1

    ok = ac.wait_for(lambda: packets() >= plain["packets"] or proc.poll() is not None, 60, 0.2)
    c.check(ok and proc.poll() is None, f"DPDK port under MDWE: all {plain['packets']} frames read", text())
    proc.send_signal(signal.SIGINT)
    try:
        rc = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        rc = None
    s = ac.parse_summary("\n".join(l for l in text().splitlines() if " packets, " in l))
    c.check(rc == 0 and s is not None and s["packets"] == plain["packets"],
            f"DPDK port under MDWE: exit 0, summary packets {s and s['packets']} = {plain['packets']}", text())

if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(f"usage: {sys.argv[0]} WIRESCOPE", file=sys.stderr)
        sys.exit(2)
    ac.main("mdwe_agent", body)
