#!/usr/bin/python3
"""The rule options of the wirescope command line and config file.

-T loads the rules, prints `rules: loaded=N failed=M` on stdout and one
`file:line: sid N: reason` line per failed rule on stderr, needs no input
and exits 0, or 1 with --strict-rules (or rules.strict) when a rule failed
or when a rule file cannot be read (naming it). A normal run prints the
same report on stderr prefixed `wirescope: ` and its summary gains
`, A alerts` only when rules are loaded. The rules.* config keys are read
(files as a list or one name, strict, vars.address and vars.port change
what a rule matches) and an unknown key under rules is a usage error (exit
2) naming FILE:LINE.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agent_common as ac  # noqa: E402
import rule_traffic as rt  # noqa: E402

# Line numbers matter: stderr must name them.
RULES = """\
# good rules, a syntax error, an unsupported keyword, a bad value
alert tcp any any -> any 80 (msg:"good GET"; content:"GET"; sid:101; rev:1;)
alert udp any any -> any 53 (msg:"missing paren"; sid:102; content:"x"

alert http any any -> any any (msg:"uri"; http_uri; content:"/admin"; sid:103; rev:1;)
alert icmp any any -> any any (msg:"good echo"; itype:8; sid:104; rev:1;)
alert udp any any -> any any (msg:"bad dsize"; dsize:lots; sid:105; rev:1;)
"""
WANT_ERRORS = [(3, 102, "')'"), (5, 103, "http_uri"), (7, 105, "dsize")]


def run(ws, args, cwd=None):
    r = ac.subprocess.run([ws] + args, capture_output=True, text=True, timeout=60, cwd=cwd)
    return r.returncode, r.stdout, r.stderr


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def check_failure_lines(c, what, err, rules, prefix=""):
    """One stderr line per failed rule: [prefix]FILE:LINE: sid N: reason."""
    lines = [l for l in err.splitlines() if l.startswith(f"{prefix}{rules}:")]
    c.equal(len(lines), len(WANT_ERRORS), f"{what}: one stderr line per failed rule", err)
    for (line, sid, needle), got in zip(WANT_ERRORS, lines):
        head = f"{prefix}{rules}:{line}: sid {sid}: "
        c.check(got.startswith(head) and needle in got[len(head):],
                f"{what}: {head!r} ... {needle!r}", got)


def body(c, cleanup):
    ws, _gen = ac.programs()
    tmp = ac.temp_dir(cleanup)
    rules = write(os.path.join(tmp, "mixed.rules"), RULES)

    print("-- -T")
    rc, out, err = run(ws, ["-T", "-S", rules])
    c.equal(rc, 0, "-T with failed rules: exit 0", err)
    c.equal(out, "rules: loaded=2 failed=3\n", "-T: stdout is the one report line")
    check_failure_lines(c, "-T", err, rules)
    rc, out, err = run(ws, ["-T", "-S", rules, "--strict-rules"])
    c.equal(rc, 1, "-T --strict-rules with failed rules: exit 1", err)
    c.equal(out, "rules: loaded=2 failed=3\n", "-T --strict-rules: the report is still printed")
    check_failure_lines(c, "-T --strict-rules", err, rules)

    good = write(os.path.join(tmp, "good.rules"),
                 'alert tcp any any -> any 80 (msg:"a"; content:"GET"; sid:1; rev:1;)\n'
                 '# alert tcp any any -> any 80 (msg:"disabled"; sid:2; rev:1;)\n'
                 'alert udp any any -> any 53 (msg:"b"; sid:3; rev:1;)\n')
    rc, out, err = run(ws, ["-T", "-S", good, "--strict-rules"])
    c.check(rc == 0 and out == "rules: loaded=2 failed=0\n" and err == "",
            "-T --strict-rules with good rules: exit 0, loaded=2 (the commented-out rule is not counted), "
            "nothing on stderr", f"rc {rc}\nstdout: {out}\nstderr: {err}")
    rc, out, err = run(ws, ["-T", "-S", good, "-S", rules])
    c.check(rc == 0 and out == "rules: loaded=4 failed=3\n", "-S twice: both files are loaded",
            f"rc {rc}\nstdout: {out}\nstderr: {err}")
    missing = os.path.join(tmp, "not-there.rules")
    rc, out, err = run(ws, ["-T", "-S", good, "-S", missing])
    c.equal(rc, 1, "-T with a missing rule file: exit 1", err)
    c.check("not-there.rules" in err, "-T with a missing rule file: stderr names the file", err)
    # -T needs no input: neither -r nor -i, and no such file in the cwd either.
    rc, out, err = run(ws, ["-T", "-S", good], cwd=tmp)
    c.check(rc == 0 and "no input" not in err, "-T needs no input (-r/-i)", err)
    rc, out, err = run(ws, ["-S", good], cwd=tmp)
    c.equal(rc, 2, "without -T, -S alone still needs an input", err)

    print("-- config keys")
    conf = write(os.path.join(tmp, "files-list.yaml"), f"rules:\n  files:\n    - {good}\n    - {rules}\n")
    rc, out, err = run(ws, ["-c", conf, "-T"])
    c.check(rc == 0 and out == "rules: loaded=4 failed=3\n", "rules.files as a list", f"rc {rc}\n{out}{err}")
    check_failure_lines(c, "rules.files", err, rules)
    conf = write(os.path.join(tmp, "files-one.yaml"), f"rules:\n  files: {good}\n")
    rc, out, err = run(ws, ["-c", conf, "-T"])
    c.check(rc == 0 and out == "rules: loaded=2 failed=0\n", "rules.files as one name", f"rc {rc}\n{out}{err}")
    conf = write(os.path.join(tmp, "strict.yaml"), f"rules:\n  files: [{rules}]\n  strict: true\n")
    rc, out, err = run(ws, ["-c", conf, "-T"])
    c.check(rc == 1 and out == "rules: loaded=2 failed=3\n", "rules.strict: true makes failures an error",
            f"rc {rc}\n{out}{err}")
    conf = write(os.path.join(tmp, "strict-off.yaml"), f"rules:\n  files: [{rules}]\n  strict: false\n")
    rc, out, err = run(ws, ["-c", conf, "-T"])
    c.equal(rc, 0, "rules.strict: false lets them pass", err)
    conf = write(os.path.join(tmp, "unknown.yaml"), f"rules:\n  files: [{good}]\n  stritc: true\n")
    rc, out, err = run(ws, ["-c", conf, "-T"])
    c.equal(rc, 2, "unknown key under rules: exit 2", err)
    c.check(f"{conf}:3" in err and "rules.stritc" in err, "unknown key under rules: stderr names FILE:LINE and the key",
            err)
    conf = write(os.path.join(tmp, "unknown-vars.yaml"), "rules:\n  vars:\n    adress:\n      HOME_NET: any\n")
    rc, out, err = run(ws, ["-c", conf, "-T"])
    c.check(rc == 2 and f"{conf}:3" in err and "rules.vars.adress" in err,
            "unknown key under rules.vars: exit 2 naming FILE:LINE", f"rc {rc}\n{err}")
    conf = write(os.path.join(tmp, "bad-strict.yaml"), "rules:\n  strict: sometimes\n")
    rc, out, err = run(ws, ["-c", conf, "-T"])
    c.check(rc == 2 and f"{conf}:2" in err and "sometimes" in err, "rules.strict not a boolean: exit 2 naming FILE:LINE",
            f"rc {rc}\n{err}")

    print("-- variables change what matches")
    # 198.51.100.7 is outside Suricata's default HOME_NET (RFC 1918 ranges).
    # Each of its packets is a flow of its own (another source port): the
    # rule is IP-only (header keywords only), which fires once per flow
    # direction, so a match gives one alert per packet here.
    t = rt.Traffic()
    for n in range(3):
        t.udp("198.51.100.7", 4000 + n, "203.0.113.9", 8080, b"hello %d" % n)
    t.udp("203.0.113.9", 8080, "198.51.100.7", 4000, b"reply")
    cap = t.write_pcap(os.path.join(tmp, "vars.pcap"))
    vrules = write(os.path.join(tmp, "vars.rules"),
                   'alert udp $HOME_NET any -> any $WEB_PORTS (msg:"from home to web"; sid:7; rev:1;)\n')

    def alerts_with(name, conf_text):
        d = os.path.join(tmp, name)
        os.mkdir(d)
        conf = write(os.path.join(tmp, name + ".yaml"),
                     f"input:\n  file: {cap}\nworkers: 1\noutput:\n  log_dir: {d}\n"
                     f"rules:\n  files: [{vrules}]\n{conf_text}")
        rc, out, err = run(ws, ["-c", conf])
        records, errors = ac.read_eve(os.path.join(d, "eve.json"))
        sids = [r["alert"]["signature_id"] for r in records if r.get("event_type") == "alert"]
        return rc, out, err, ac.parse_summary(out), sids

    # WEB_PORTS is not one of Suricata's defaults: without it the rule fails.
    rc, out, err, s, sids = alerts_with("novars", "")
    c.check(rc == 0 and "wirescope: rules: loaded=0 failed=1" in err.splitlines()
            and any(l.startswith(f"wirescope: {vrules}:1: sid 7: ") and "WEB_PORTS" in l for l in err.splitlines()),
            "undefined $WEB_PORTS: the run reports the failed rule on stderr, prefixed", err)
    rc, out, err, s, sids = alerts_with("default-home", "  vars:\n    port:\n      WEB_PORTS: \"[80,8080]\"\n")
    c.check(rc == 0 and s is not None and s["alerts"] == 0 and sids == [],
            "default HOME_NET: a sender outside it does not match", f"{out}{err}")
    rc, out, err, s, sids = alerts_with(
        "home", "  vars:\n    address:\n      HOME_NET: \"[198.51.100.0/24]\"\n    port:\n      WEB_PORTS: \"[80,8080]\"\n")
    c.check(rc == 0 and s is not None and s["alerts"] == 3 and sids == [7, 7, 7],
            "rules.vars.address.HOME_NET covering the sender: its 3 packets to port 8080 match", f"{out}{err}")
    rc, out, err, s, sids = alerts_with(
        "home-port", "  vars:\n    address:\n      HOME_NET: \"[198.51.100.0/24]\"\n    port:\n      WEB_PORTS: \"443\"\n")
    c.check(rc == 0 and s is not None and s["alerts"] == 0, "rules.vars.port.WEB_PORTS without 8080: no match",
            f"{out}{err}")

    print("-- run output with and without rules")
    d = os.path.join(tmp, "run-rules")
    os.mkdir(d)
    rc, out, err = run(ws, ["-r", cap, "-S", rules, "-l", d, "--workers", "1"])
    c.equal(rc, 0, "run with failed rules: exit 0", err)
    c.check("wirescope: rules: loaded=2 failed=3" in err.splitlines(), "run: report on stderr, prefixed", err)
    check_failure_lines(c, "run", err, rules, prefix="wirescope: ")
    s = ac.parse_summary(out)
    c.check(s is not None and s["alerts"] == 0 and ", 0 alerts," in out, "run with rules: the summary counts alerts",
            out)
    rc, out, err = run(ws, ["-r", cap, "-S", rules, "--strict-rules", "-l", d])
    c.check(rc == 1 and "strict" in err and f"{rules}:3" in err,
            "run with --strict-rules and failed rules: exit 1 naming the first failure", f"rc {rc}\n{err}")
    rc, out, err = run(ws, ["-r", cap, "-S", missing, "-l", d])
    c.check(rc == 1 and "not-there.rules" in err, "run with a missing rule file: exit 1 naming it", f"rc {rc}\n{err}")
    rc, out, err = run(ws, ["-r", cap, "--workers", "1"])
    s = ac.parse_summary(out)
    c.check(rc == 0 and s is not None and s["alerts"] is None and "alerts" not in out and "rules:" not in err,
            "run without rules: no alerts in the summary, no rules report", f"{out}{err}")

    print("-- the demo's rules")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    demo = os.path.join(root, "deploy", "demo")
    rc, out, err = run(ws, ["-T", "--strict-rules", "-S", os.path.join(demo, "demo.rules")])
    c.check(rc == 0 and out.strip() == "rules: loaded=5 failed=0", "deploy/demo/demo.rules: all 5 load strictly",
            f"rc {rc}\n{out}{err}")
    d = os.path.join(tmp, "demo")
    os.mkdir(d)
    rc, out, err = run(ws, ["-r", os.path.join(demo, "demo.pcap"), "-S", os.path.join(demo, "demo.rules"), "-l", d])
    s = ac.parse_summary(out)
    c.check(rc == 0 and s is not None and s["alerts"] and s["alerts"] > 0,
            "the demo replay produces alerts", f"{out}{err}")


if __name__ == "__main__":
    ac.main("agent_rules_cli", body)
