#!/usr/bin/python3
"""api.tokens_file: API tokens kept out of the config (a Kubernetes Secret).

  - a config naming a tokens file (relative: from the config's directory)
    next to inline api.tokens: -T accepts it, and a running agent takes the
    file's token (200 on /api/v1/status) and the inline one, and refuses an
    unknown one (401);
  - refusals name the place and the reason: a missing file (the config's
    line), a bad role or hash in the file (the file's line), a name used
    both inline and in the file, a file that is not a list.
"""
import hashlib
import os
import re
import secrets
import signal
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import agent_common as ac  # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
DEMO = os.path.join(ROOT, "deploy", "demo", "demo.pcap")


def sha(t):
    return hashlib.sha256(t.encode()).hexdigest()


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def test_config(ws, cfg):
    return subprocess.run([ws, "-T", "-c", cfg], capture_output=True, text=True, timeout=60)


def body(c, cleanup):
    ws = os.path.abspath(sys.argv[1])
    tmp = ac.temp_dir(cleanup, "ws-tokens-")
    os.makedirs(os.path.join(tmp, "secret"))
    file_token, inline_token = secrets.token_hex(16), secrets.token_hex(16)
    write(os.path.join(tmp, "secret", "tokens.yaml"),
          f"- {{name: ops, role: admin, token_sha256: {sha(file_token)}}}\n")
    cfg = os.path.join(tmp, "wirescope.yaml")
    write(cfg, "api:\n  listen: 127.0.0.1:0\n  tokens_file: secret/tokens.yaml\n"
               f"  tokens:\n    - {{name: grafana, role: viewer, token_sha256: {sha(inline_token)}}}\n")
    r = test_config(ws, cfg)
    c.equal(r.returncode, 0, "-T accepts a config with api.tokens_file", r.stdout + r.stderr)

    agent = ac.Background([ws, "-c", cfg, "-r", DEMO, "--loop", "--replay-speed", "5", "--workers", "1"],
                          os.path.join(tmp, "agent.log"), cleanup)
    port = None

    def listening():
        nonlocal port
        m = re.search(r"api listening on [^:\s]+:(\d+)", agent.output())
        port = int(m.group(1)) if m else None
        return port is not None or not agent.running()

    ac.wait_for(listening, 60, 0.05)
    if c.check(port, "the API listens", agent.output()):
        c.equal(ac.http_get(port, "/api/v1/status", file_token)[0], 200, "the tokens file's token is accepted")
        c.equal(ac.http_get(port, "/api/v1/status", inline_token)[0], 200, "the inline api.tokens token still is")
        c.equal(ac.http_get(port, "/api/v1/status", secrets.token_hex(16))[0], 401, "an unknown token is refused")
    c.check("no api.tokens configured" not in agent.output(), "the agent does not say it has no tokens",
            agent.output())
    rc, _ = agent.stop(signal.SIGTERM, 30)
    c.equal(rc, 0, "SIGTERM: exit 0", agent.output())

    cases = [
        ("missing file", "api:\n  tokens_file: nowhere.yaml\n", None,
         ["bad.yaml:2: api.tokens_file: cannot open", "nowhere.yaml"]),
        ("bad role in the file", "api:\n  tokens_file: t.yaml\n",
         f"- {{name: a, role: viewer, token_sha256: {sha('a')}}}\n- {{name: b, role: root, token_sha256: {sha('b')}}}\n",
         ["t.yaml:2:", "expected admin or viewer, got 'root'"]),
        ("bad hash in the file", "api:\n  tokens_file: t.yaml\n", "- {name: a, role: viewer, token_sha256: abc}\n",
         ["t.yaml:1:", "token_sha256"]),
        ("a name inline and in the file",
         f"api:\n  tokens_file: t.yaml\n  tokens: [{{name: ops, role: viewer, token_sha256: {sha('x')}}}]\n",
         f"- {{name: ops, role: admin, token_sha256: {sha('y')}}}\n", ["t.yaml:1:", "'ops' is used twice"]),
        ("not a list", "api:\n  tokens_file: t.yaml\n", "ops: 1\n", ["t.yaml:1:", "expected a list"]),
    ]
    for what, config, tokens, want in cases:
        d = os.path.join(tmp, what.replace(" ", "_"))
        os.makedirs(d)
        write(os.path.join(d, "bad.yaml"), config)
        if tokens is not None:
            write(os.path.join(d, "t.yaml"), tokens)
        r = test_config(ws, os.path.join(d, "bad.yaml"))
        c.check(r.returncode == 2 and all(w in r.stderr for w in want),
                f"{what}: refused (exit 2) naming {want}", f"exit {r.returncode}\n{r.stderr}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(f"usage: {sys.argv[0]} WIRESCOPE", file=sys.stderr)
        sys.exit(2)
    ac.main("tokens_file", body)
