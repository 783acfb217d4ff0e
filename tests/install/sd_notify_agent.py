#!/usr/bin/python3
"""systemd readiness (Type=notify) of the real agent over $NOTIFY_SOCKET.

The test is systemd's side of sd_notify(3): it binds a unix datagram socket,
starts the agent with NOTIFY_SOCKET naming it and reads what arrives.

  - abstract socket ('@name'), demo capture replayed forever with the API up:
    nothing before READY=1; when READY=1 arrives the API already answers
    (/api/v1/health, and /api/v1/ready with a token: the sources run);
    SIGHUP gives RELOADING=1 (with MONOTONIC_USEC, CLOCK_MONOTONIC now) then
    READY=1; SIGTERM gives STOPPING=1 and exit status 0;
  - filesystem socket path, one pass over the capture: READY=1, then
    STOPPING=1 when the input ends by itself;
  - a NOTIFY_SOCKET that is no socket path: the agent runs as usual and says
    why it cannot notify, once.
"""
import hashlib
import os
import re
import secrets
import signal
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import agent_common as ac  # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
DEMO = os.path.join(ROOT, "deploy", "demo", "demo.pcap")
RULES = os.path.join(ROOT, "deploy", "demo", "demo.rules")


def parse(msg):
    """KEY=VALUE lines of one datagram as a dict."""
    out = {}
    for line in msg.decode().split("\n"):
        if "=" in line:
            k, v = line.split("=", 1)
            out[k] = v
    return out


def receive(sock, timeout):
    sock.settimeout(timeout)
    try:
        return parse(sock.recv(4096))
    except socket.timeout:
        return None


def api_port(agent):
    m = re.search(r"api listening on [^:\s]+:(\d+)", agent.output())
    return int(m.group(1)) if m else None


def abstract_run(c, ws, tmp, cleanup):
    name = f"ws-notify-{os.getpid()}-{secrets.token_hex(4)}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    cleanup.add(sock.close)
    token = secrets.token_hex(16)
    cfg = os.path.join(tmp, "notify.yaml")
    with open(cfg, "w") as f:
        f.write("api:\n  tokens:\n    - {name: t, role: viewer, token_sha256: \"%s\"}\n"
                % hashlib.sha256(token.encode()).hexdigest())
    os.makedirs(os.path.join(tmp, "out"))
    env = dict(os.environ, NOTIFY_SOCKET="@" + name)
    agent = ac.Background([ws, "-c", cfg, "-r", DEMO, "--loop", "--replay-speed", "5", "-S", RULES,
                           "--api", "127.0.0.1:0", "-l", os.path.join(tmp, "out"), "--workers", "2"],
                          os.path.join(tmp, "abstract.log"), cleanup, env=env)
    first = receive(sock, 60)
    if not c.check(first is not None, "abstract socket: a message arrives", agent.output()):
        return
    c.equal(first.get("READY"), "1", "abstract socket: the first message is READY=1", str(first))
    # Right now, before anything else: READY=1 promises a serving agent.
    port = api_port(agent)
    c.check(port is not None, "abstract socket: the API port was logged before READY=1", agent.output())
    c.equal(ac.http_get(port, "/api/v1/health")[0], 200, "abstract socket: /api/v1/health answers when READY=1 arrives")
    c.equal(ac.http_get(port, "/api/v1/ready", token)[0], 200, "abstract socket: /api/v1/ready is 200 when READY=1 arrives")

    agent.proc.send_signal(signal.SIGHUP)
    sent = time.monotonic()
    reloading = receive(sock, 30)
    c.check(reloading is not None and reloading.get("RELOADING") == "1",
            "SIGHUP: RELOADING=1 comes first", f"{reloading}\n{agent.output()}")
    usec = int(reloading.get("MONOTONIC_USEC", "-1")) if reloading else -1
    c.check(abs(usec / 1e6 - sent) < 30, f"SIGHUP: MONOTONIC_USEC is CLOCK_MONOTONIC now ({usec} us vs {sent:.3f} s)")
    ready = receive(sock, 60)
    c.check(ready is not None and ready.get("READY") == "1", "SIGHUP: READY=1 after the reload",
            f"{ready}\n{agent.output()}")
    c.check("rules reloaded" in agent.output(), "SIGHUP: the rules were reloaded in between", agent.output())

    agent.proc.send_signal(signal.SIGTERM)
    stopping = receive(sock, 30)
    c.check(stopping is not None and stopping.get("STOPPING") == "1", "SIGTERM: STOPPING=1",
            f"{stopping}\n{agent.output()}")
    rc, _ = agent.stop(signal.SIGTERM, 30)
    c.equal(rc, 0, "SIGTERM: exit status 0", agent.output())
    c.equal(receive(sock, 0.5), None, "nothing after STOPPING=1")


def path_run(c, ws, tmp, cleanup):
    path = os.path.join(tmp, "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    cleanup.add(sock.close)
    env = dict(os.environ, NOTIFY_SOCKET=path)
    agent = ac.Background([ws, "-r", DEMO, "--workers", "1"], os.path.join(tmp, "path.log"), cleanup, env=env)
    got = [receive(sock, 60), receive(sock, 60)]
    rc = agent.proc.wait(timeout=120)
    c.equal(rc, 0, "socket path: one pass exits 0", agent.output())
    c.check(got[0] is not None and got[0].get("READY") == "1", "socket path: READY=1", f"{got}\n{agent.output()}")
    c.check(got[1] is not None and got[1].get("STOPPING") == "1", "socket path: STOPPING=1 when the input ends",
            f"{got}\n{agent.output()}")
    c.check("systemd notify" not in agent.output(), "socket path: no notify error", agent.output())


def bad_socket_run(c, ws, tmp, cleanup):
    env = dict(os.environ, NOTIFY_SOCKET="relative/notify.sock")
    agent = ac.Background([ws, "-r", DEMO, "--workers", "1"], os.path.join(tmp, "bad.log"), cleanup, env=env)
    rc = agent.proc.wait(timeout=120)
    out = agent.output()
    c.equal(rc, 0, "bad NOTIFY_SOCKET: the agent still runs and exits 0", out)
    lines = [l for l in out.splitlines() if "systemd notify" in l]
    c.equal(len(lines), 1, "bad NOTIFY_SOCKET: told once", out)
    c.check(lines and "relative/notify.sock" in lines[0] and "absolute" in lines[0],
            "bad NOTIFY_SOCKET: the message names the socket and the reason", out)


def body(c, cleanup):
    if len(sys.argv) < 2:
        print(f"usage: {sys.argv[0]} WIRESCOPE", file=sys.stderr)
        sys.exit(2)
    ws = os.path.abspath(sys.argv[1])
    tmp = ac.temp_dir(cleanup, "ws-notify-")
    abstract_run(c, ws, tmp, cleanup)
    path_run(c, ws, tmp, cleanup)
    bad_socket_run(c, ws, tmp, cleanup)


if __name__ == "__main__":
    ac.main("sd_notify_agent", body)
