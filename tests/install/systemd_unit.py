#!/usr/bin/python3
"""The shipped systemd unit, sysusers.d and tmpfiles.d files, checked offline.

  - `systemd-analyze verify` accepts the configured unit without a single
    warning (the ExecStart binary pointed at the built one: verify wants it
    to exist);
  - AmbientCapabilities and CapabilityBoundingSet are each exactly
    CAP_NET_RAW CAP_NET_ADMIN CAP_IPC_LOCK, set once;
  - the hardening the README promises is there, value for value, and
    `systemd-analyze security --offline` rates it "OK" or better;
  - ExecStart reads <sysconfdir>/wirescope/wirescope.yaml, Type=notify,
    ExecReload sends SIGHUP;
  - systemd-sysusers makes the wirescope user (no login) in a scratch root,
    and systemd-tmpfiles then makes /var/log/wirescope owned by it.

argv: the configured unit (build dir), the built wirescope, the
sysusers file, the tmpfiles file. Exit 77 without systemd-analyze.
"""
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import agent_common as ac  # noqa: E402

CAPS = {"CAP_NET_RAW", "CAP_NET_ADMIN", "CAP_IPC_LOCK"}
WANT = {
    "Type": "notify",
    "User": "wirescope",
    "Restart": "on-failure",
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes",
    "SystemCallFilter": "@system-service",
    "LogsDirectory": "wirescope",
    "ExecReload": "kill -HUP $MAINPID",
}
FAMILIES = {"AF_UNIX", "AF_INET", "AF_INET6", "AF_PACKET", "AF_NETLINK"}


def parse_unit(path):
    """{section: {key: [values in order]}}."""
    out, sec = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                sec = out.setdefault(line.strip("[]"), {})
                continue
            k, v = line.split("=", 1)
            sec.setdefault(k.strip(), []).append(v.strip())
    return out


def body(c, cleanup):
    unit, ws, sysusers, tmpfiles = (os.path.abspath(a) for a in sys.argv[1:5])
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        ac.skip("systemd-analyze not installed (Debian package systemd)")
    u = parse_unit(unit)
    svc = u.get("Service", {})
    for key in ("AmbientCapabilities", "CapabilityBoundingSet"):
        vals = svc.get(key, [])
        c.equal(len(vals), 1, f"{key} is set once (no second line adding to it)")
        got = set(" ".join(vals).split())
        c.equal(sorted(got), sorted(CAPS), f"{key} is exactly the three capabilities")
    for k, v in WANT.items():
        c.equal(svc.get(k), [v], f"{k}={v}")
    c.equal(set(" ".join(svc.get("RestrictAddressFamilies", [])).split()), FAMILIES,
            "RestrictAddressFamilies is exactly AF_UNIX AF_INET AF_INET6 AF_PACKET AF_NETLINK")
    exec_start = svc.get("ExecStart", [""])[0].split()
    c.check(len(exec_start) == 3 and exec_start[0].endswith("/wirescope") and exec_start[1] == "-c"
            and exec_start[2].endswith("/wirescope/wirescope.yaml"),
            f"ExecStart runs wirescope -c <sysconfdir>/wirescope/wirescope.yaml: {exec_start}")
    c.check(os.path.isabs(exec_start[0]), "ExecStart's binary is an absolute path")

    tmp = tempfile.mkdtemp(prefix="ws-unit-")
    cleanup.add(shutil.rmtree, tmp, True)
    with open(unit) as f:
        text = f.read()
    local = os.path.join(tmp, "wirescope.service")
    with open(local, "w") as f:
        f.write(text.replace(exec_start[0] + " ", ws + " ", 1))
    r = subprocess.run([analyze, "verify", local], capture_output=True, text=True, timeout=60)
    c.check(r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(),
            "systemd-analyze verify: no error and no warning", f"exit {r.returncode}\n{r.stdout}{r.stderr}")

    r = subprocess.run([analyze, "security", "--offline=yes", local], capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for wirescope.service: ([0-9.]+) (\w+)", r.stdout + r.stderr)
    c.check(m and float(m.group(1)) < 4.0 and m.group(2) in ("OK", "SAFE"),
            f"systemd-analyze security: exposure {m.group(1) + ' ' + m.group(2) if m else '?'} (want OK or SAFE)",
            r.stdout[-2000:] + r.stderr)

    sysusers_bin, tmpfiles_bin = shutil.which("systemd-sysusers"), shutil.which("systemd-tmpfiles")
    if not (sysusers_bin and tmpfiles_bin):
        print("  (systemd-sysusers/systemd-tmpfiles missing: the user and directories are not made)")
        return
    root = os.path.join(tmp, "root")
    os.makedirs(os.path.join(root, "etc"))
    r = subprocess.run([sysusers_bin, f"--root={root}", sysusers], capture_output=True, text=True, timeout=60)
    c.equal(r.returncode, 0, "systemd-sysusers --root accepts the sysusers file", r.stderr)
    passwd = open(os.path.join(root, "etc", "passwd")).read() if os.path.exists(os.path.join(root, "etc", "passwd")) else ""
    entry = [line.split(":") for line in passwd.splitlines() if line.startswith("wirescope:")]
    c.check(entry and int(entry[0][2]) < 1000 and entry[0][6] in ("/usr/sbin/nologin", "/sbin/nologin"),
            f"user wirescope: a system uid, no login shell: {entry}")
    r = subprocess.run([tmpfiles_bin, f"--root={root}", "--create", tmpfiles], capture_output=True, text=True,
                       timeout=60)
    c.equal(r.returncode, 0, "systemd-tmpfiles --root --create accepts the tmpfiles file", r.stderr)
    for d in ("var/log/wirescope", "var/lib/wirescope"):
        p = os.path.join(root, d)
        st = os.stat(p) if os.path.isdir(p) else None
        c.check(st and entry and st.st_uid == int(entry[0][2]) and stat.S_IMODE(st.st_mode) == 0o750,
                f"/{d}: a directory, owned by wirescope, mode 0750")


if __name__ == "__main__":
    if len(sys.argv) < 5:
        print(f"usage: {sys.argv[0]} UNIT WIRESCOPE SYSUSERS TMPFILES", file=sys.stderr)
        sys.exit(2)
    ac.main("systemd_unit", body)
