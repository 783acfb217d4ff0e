#!/usr/bin/python3
"""The configs `meson install` ships pass `wirescope -T -c FILE`.

Each example is one kind of deployment, checked for what makes it that kind
(read with python3-yaml): the AF_PACKET sensor, bare-metal DPDK (EAL
arguments with --in-memory, which the read-only file system of the systemd
unit needs), the GNS3 lab, the inline pair with QoS and the host that
shapes its own egress with tc (qos.mode: tc). -T validates the whole config
(every key, the capture method, export URLs, API settings, QoS policies) and
compiles the configured rules; it does not open interfaces, DPDK ports or
GNS3 servers, nor touch tc, so the DPDK, GNS3 and tc files are proven only
that far. As a control, each file with one key misspelt is refused, naming
the file and line.

argv: WIRESCOPE DEFAULT_CONFIG EXAMPLE...
"""
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import agent_common as ac  # noqa: E402

try:
    import yaml
except ImportError:
    ac.skip("python3-yaml not installed")


def kind(cfg):
    if cfg.get("gns3"):
        return "gns3"
    if cfg.get("inline"):
        return "inline"
    if cfg.get("qos", {}).get("mode") == "tc":
        return "tc"
    inp = cfg.get("input", {})
    if inp.get("capture") == "dpdk":
        return "dpdk"
    if inp.get("interface") and inp.get("capture", "afpacket") == "afpacket":
        return "afpacket"
    return "?"


def body(c, cleanup):
    ws = os.path.abspath(sys.argv[1])
    files = [os.path.abspath(a) for a in sys.argv[2:]]
    tmp = tempfile.mkdtemp(prefix="ws-examples-")
    cleanup.add(shutil.rmtree, tmp, True)
    kinds = {}
    for f in files:
        name = os.path.basename(f)
        r = subprocess.run([ws, "-T", "-c", f], capture_output=True, text=True, timeout=120)
        c.check(r.returncode == 0 and "rules: loaded=" in r.stdout, f"{name}: wirescope -T -c accepts it",
                f"exit {r.returncode}\n{r.stdout}{r.stderr}")
        with open(f) as fh:
            cfg = yaml.safe_load(fh)
        kinds.setdefault(kind(cfg), []).append(name)
        if kind(cfg) == "dpdk":
            c.check("--in-memory" in cfg.get("dpdk", {}).get("eal_args", []),
                    f"{name}: EAL arguments keep DPDK's files out of /run (--in-memory)")
        if cfg.get("output", {}).get("log_dir"):
            c.equal(cfg["output"]["log_dir"], "/var/log/wirescope", f"{name}: eve.json where logrotate looks")
        # Control: one key misspelt, the same -T refuses it with FILE:LINE.
        with open(f) as fh:
            text = fh.read()
        first = next(k for k in cfg)
        bad = os.path.join(tmp, name)
        with open(bad, "w") as fh:
            fh.write(text.replace(f"\n{first}:", f"\n{first}x:", 1) if f"\n{first}:" in text
                     else text.replace(f"{first}:", f"{first}x:", 1))
        r = subprocess.run([ws, "-T", "-c", bad], capture_output=True, text=True, timeout=120)
        c.check(r.returncode == 2 and f"{bad}:" in r.stderr and f"unknown key '{first}x'" in r.stderr,
                f"{name} with '{first}' misspelt: refused with the file, line and key", r.stderr)
    for k in ("afpacket", "dpdk", "gns3", "inline", "tc"):
        c.check(k in kinds, f"an example for {k}: {kinds.get(k)}")
    c.check("?" not in kinds, f"every example is one of the kinds: {kinds}")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        print(f"usage: {sys.argv[0]} WIRESCOPE CONFIG...", file=sys.stderr)
        sys.exit(2)
    ac.main("example_configs", body)
