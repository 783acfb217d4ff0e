#!/usr/bin/python3
"""deploy/container/Dockerfile, checked without Docker (none runs here).

  - two stages, both FROM debian:bookworm (the runtime one may be -slim);
  - the build stage runs deploy/setup.sh build, configures with
    --prefix=/usr and makes the .deb with deploy/package/build-deb.sh (whose
    meson install --destdir is the install tree);
  - the runtime stage copies only the build stage's .deb and apt-installs
    nothing else, so its packages are the .deb's Depends (and what they pull);
    no compiler, -dev package or build tool is named there;
  - the final USER is neither root nor uid 0;
  - the HEALTHCHECK asks /api/v1/health, with a program the runtime image
    has (bash; no curl/wget unless installed), and its exact command, run here
    against the agent's API on a free port, succeeds, and fails on a port
    where nothing listens.

argv: WIRESCOPE DOCKERFILE
"""
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import agent_common as ac  # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
DEMO = os.path.join(ROOT, "deploy", "demo", "demo.pcap")


def instructions(path):
    """[(INSTRUCTION, argument text)] with continuation lines joined and comments dropped."""
    out, cur = [], ""
    with open(path) as f:
        for line in f:
            s = line.rstrip("\n")
            if not cur and (not s.strip() or s.lstrip().startswith("#")):
                continue
            if cur and s.lstrip().startswith("#"):
                continue
            if s.endswith("\\"):
                cur += s[:-1] + " "
                continue
            cur += s
            word, _, rest = cur.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
            cur = ""
    return out


def body(c, cleanup):
    ws, dockerfile = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    ins = instructions(dockerfile)
    stages = []
    for word, arg in ins:
        if word == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?", arg, re.I)
            stages.append({"image": m.group(1), "name": m.group(2), "ins": []})
        elif stages:
            stages[-1]["ins"].append((word, arg))
    c.equal(len(stages), 2, "two stages")
    for s in stages:
        c.check(re.fullmatch(r"debian:bookworm(-slim)?", s["image"]), f"stage {s['name']}: FROM {s['image']}")
    if len(stages) != 2:
        return
    build, run = stages
    build_runs = " ".join(a for w, a in build["ins"] if w == "RUN")
    c.check("deploy/setup.sh build" in build_runs, "build stage runs deploy/setup.sh build")
    c.check("--prefix=/usr" in build_runs, "build stage configures --prefix=/usr")
    c.check("deploy/package/build-deb.sh" in build_runs, "build stage makes the .deb (meson install --destdir inside)")

    copies = [a for w, a in run["ins"] if w == "COPY"]
    c.check(copies and all(a.startswith(f"--from={build['name']} ") for a in copies),
            f"runtime stage copies only from the build stage: {copies}")
    installs = []
    for w, a in run["ins"]:
        if w != "RUN":
            continue
        for part in re.split(r"&&|;", a):
            words = shlex.split(part)
            if words[:2] == ["apt-get", "install"] or words[:2] == ["apt", "install"]:
                installs += [x for x in words[2:] if not x.startswith("-")]
    c.check(installs and all(re.fullmatch(r"/tmp/deb/wirescope_\*\.deb", x) for x in installs),
            f"runtime stage apt-installs only the package ({installs}): its packages are the .deb's Depends")
    run_text = " ".join(a for _, a in run["ins"])
    c.check(not re.search(r"\b(g\+\+|gcc|clang|meson|ninja|[a-z0-9.+-]+-dev)\b", run_text),
            "no toolchain or -dev package in the runtime stage")

    users = [a for w, a in run["ins"] if w == "USER"]
    c.check(users and users[-1].split(":")[0] not in ("root", "0"), f"final USER is not root: {users}")

    checks = [a for w, a in run["ins"] if w == "HEALTHCHECK"]
    if not c.check(len(checks) == 1, "one HEALTHCHECK"):
        return
    m = re.search(r"\bCMD\s+(\[.*\])\s*$", checks[0])
    if not c.check(m, "HEALTHCHECK CMD in exec form", checks[0]):
        return
    cmd = json.loads(m.group(1))
    c.check("/api/v1/health" in " ".join(cmd), "the healthcheck asks /api/v1/health")
    c.check(cmd[0] in ("bash", "/bin/bash") or "curl" in installs or "wget" in installs,
            f"its program ({cmd[0]}) is in the runtime image")
    ports = set(re.findall(r"127\.0\.0\.1/(\d+)", " ".join(cmd)))
    if not c.check(len(ports) == 1, f"it names one port: {ports}"):
        return
    image_port = ports.pop()
    bash = shutil.which("bash")
    if not bash:
        return

    # Its command, against the real agent (the port swapped for a free one).
    tmp = tempfile.mkdtemp(prefix="ws-docker-")
    cleanup.add(shutil.rmtree, tmp, True)
    port = ac.free_tcp_port()
    agent = ac.Background([ws, "-r", DEMO, "--loop", "--replay-speed", "5", "--workers", "1",
                           "--api", f"127.0.0.1:{port}"], os.path.join(tmp, "agent.log"), cleanup)
    ac.wait_for(lambda: "api listening" in agent.output() or not agent.running(), 60, 0.05)
    mine = [x.replace(f"127.0.0.1/{image_port}", f"127.0.0.1/{port}") for x in cmd]
    mine[0] = bash
    r = subprocess.run(mine, capture_output=True, text=True, timeout=30)
    c.equal(r.returncode, 0, "the healthcheck command passes against a running agent", r.stderr + agent.output())
    agent.stop(signal.SIGTERM, 30)
    dead = [x.replace(f"127.0.0.1/{image_port}", f"127.0.0.1/{ac.free_tcp_port()}") for x in cmd]
    dead[0] = bash
    r = subprocess.run(dead, capture_output=True, text=True, timeout=30)
    c.check(r.returncode != 0, "and fails where nothing listens")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        print(f"usage: {sys.argv[0]} WIRESCOPE DOCKERFILE", file=sys.stderr)
        sys.exit(2)
    ac.main("dockerfile_check", body)
