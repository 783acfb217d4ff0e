#!/usr/bin/python3
"""SIGHUP reloads the rules under load, and a failed reload keeps the running rules.

The agent replays a wirescope-gen capture forever (-r CAP --loop, 2
workers) with one rule that every packet matches (`alert ip any any ->
any any`), so each packet gives exactly one alert whatever rule set a
worker is using at that moment, and so does each datagram reassembled from
the capture's fragments (matched once whole, as Suricata does; -v prints
how many). The rule file is rewritten ten times with
another sid (written whole, then renamed into place) and each time the
agent gets SIGHUP; before the next one the test waits for the "rules
reloaded" line and for the new sid in eve.json, so every generation is
seen working. After SIGTERM: exit 0, ten reload lines with rising
generations, summary alerts == packets + reassembled datagrams, nothing dropped (no packet
went unprocessed or unmatched across the swaps), and the alerts in
eve.json carry only the sids written, all eleven of them, and add up to
the summary's count.

Then with rules.strict: true in a config file: a rewrite with one broken
rule (and one good one with a new sid) is refused on SIGHUP with "rule
reload failed, the running rules stay", alerts continue with the old sid
only, and a later good rewrite loads again.
"""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agent_common as ac  # noqa: E402

RELOADS = 10
WAIT_S = 30  # upper bound for one step; a step normally takes milliseconds

RELOADED_RE = re.compile(r"^wirescope: rules reloaded: loaded=(\d+) failed=(\d+) \(generation (\d+)\)$", re.M)
FAILED_RE = re.compile(r"^wirescope: rule reload failed, the running rules stay: (.*)$", re.M)
SID_RE = re.compile(rb'"signature_id":(\d+),')


def reassembled(output):
    """Datagrams the workers reassembled from fragments (-v counter lines), 0 if none."""
    m = re.search(r"^wirescope: defrag\.reassembled (\d+)$", output, re.M)
    return int(m.group(1)) if m else 0


def write_rules(path, text):
    """Replaces the file in one step: a reload reads the old or the new text, never half."""
    tmp = path + ".new"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def match_all(sid):
    # ttl:>=0 holds for every IPv4 and IPv6 packet and, being a packet
    # keyword, makes the rule match per packet: a header-only rule is
    # IP-only and, as in Suricata, fires once per flow direction.
    return f'alert ip any any -> any any (msg:"every packet, sid {sid}"; ttl:>=0; sid:{sid}; rev:1;)\n'


def read_text(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def tail_has_sid(path, sid, n=1 << 18):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - n))
            return b'"signature_id":%d,' % sid in f.read()
    except OSError:
        return False


def file_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def scan_eve(path, start=0):
    """(alerts per sid, flow events, other lines, first sids in order) from byte offset start on.

    The file is large (every packet of a fast replay is an alert), so it
    is read in chunks with a regex rather than parsed line by line; every
    thousandth line is parsed as JSON to check the format.
    """
    per_sid, flows, other, bad_json, order = {}, 0, 0, [], []
    with open(path, "rb") as f:
        f.seek(start)
        if start:
            f.readline()  # start at a line boundary
        rest = b""
        n = 0
        while True:
            chunk = f.read(8 << 20)
            if not chunk:
                break
            data = rest + chunk
            cut = data.rfind(b"\n") + 1
            lines, rest = data[:cut].split(b"\n")[:-1], data[cut:]
            for line in lines:
                n += 1
                if b'"event_type":"alert"' in line:
                    m = SID_RE.search(line)
                    sid = int(m.group(1)) if m else -1
                    per_sid[sid] = per_sid.get(sid, 0) + 1
                    if not order or order[-1] != sid:
                        order.append(sid)
                elif b'"event_type":"flow"' in line:
                    flows += 1
                else:
                    other += 1
                if n % 1000 == 0:
                    try:
                        ac.json.loads(line)
                    except ValueError as e:
                        bad_json.append(f"line {n}: {e}")
        if rest:
            other += 1  # a last line without its newline
    return per_sid, flows, other, bad_json, order


class Agent:
    def __init__(self, cmd, tmp, name, cleanup):
        self.out_path = os.path.join(tmp, name + ".out")
        self.err_path = os.path.join(tmp, name + ".err")
        print(f"$ {' '.join(cmd)} &", flush=True)
        self.out = open(self.out_path, "wb")
        self.err = open(self.err_path, "wb")
        self.proc = ac.subprocess.Popen(cmd, stdout=self.out, stderr=self.err)
        cleanup.add(self.kill)

    def stderr(self):
        return read_text(self.err_path)

    def stdout(self):
        return read_text(self.out_path)

    def running(self):
        return self.proc.poll() is None

    def signal(self, sig):
        if self.running():
            self.proc.send_signal(sig)

    def stop(self):
        self.signal(ac.signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        except ac.subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for f in (self.out, self.err):
            if not f.closed:
                f.close()


def wait_step(c, agent, cond, what):
    ok = ac.wait_for(lambda: cond() or not agent.running(), WAIT_S) and agent.running()
    return c.check(ok, what, agent.stderr()[-3000:])


def reload_under_load(c, ws, cap, tmp, cleanup):
    print("-- ten reloads while replaying")
    out = os.path.join(tmp, "reload")
    os.mkdir(out)
    eve = os.path.join(out, "eve.json")
    rules = os.path.join(tmp, "reload.rules")
    sids = [3000 + g for g in range(RELOADS + 1)]
    write_rules(rules, match_all(sids[0]))
    agent = Agent([ws, "-r", cap, "--loop", "--workers", "2", "-S", rules, "-l", out, "-v"], tmp, "reload", cleanup)
    if not wait_step(c, agent, lambda: tail_has_sid(eve, sids[0]), f"alerts with sid {sids[0]} appear"):
        return
    done = 0
    for g in range(1, RELOADS + 1):
        time.sleep(0.1)
        write_rules(rules, match_all(sids[g]))
        agent.signal(ac.signal.SIGHUP)
        if not wait_step(c, agent, lambda: len(RELOADED_RE.findall(agent.stderr())) >= g,
                         f"SIGHUP {g}: 'rules reloaded' logged"):
            break
        if not wait_step(c, agent, lambda: tail_has_sid(eve, sids[g]), f"SIGHUP {g}: alerts with sid {sids[g]}"):
            break
        done = g
    time.sleep(0.1)
    rc = agent.stop()
    err, sout = agent.stderr(), agent.stdout()
    print(ac.indent(sout.strip() + "\n" + err.strip()[-2000:], 4))
    c.equal(rc, 0, "exit status after SIGTERM", err[-2000:])
    c.equal(done, RELOADS, "every reload step completed")
    reloaded = RELOADED_RE.findall(err)
    c.equal(len(reloaded), RELOADS, "'rules reloaded' lines")
    c.check(all(l == "1" and f == "0" for l, f, _ in reloaded), "each reload: loaded=1 failed=0", str(reloaded))
    gens = [int(g) for _, _, g in reloaded]
    c.check(all(b > a for a, b in zip(gens, gens[1:])) and gens and gens[0] > 1,
            f"generations rise from one reload to the next: {gens}")
    c.check(not FAILED_RE.search(err), "no failed reload", err[-2000:])
    s = ac.parse_summary(sout)
    if not c.check(s is not None and s["alerts"] is not None, "summary with alerts parses", sout):
        return
    c.check(s["packets"] > 0, f"{s['packets']} packets replayed")
    c.equal(s["alerts"], s["packets"] + reassembled(sout + err),
            "summary: alerts = packets + reassembled datagrams (one rule matched every packet across the swaps)")
    c.equal(s["dropped"], 0, "summary: nothing dropped", str(s["drops"]))
    per_sid, flows, other, bad_json, order = scan_eve(eve)
    c.check(not bad_json, "eve.json lines sampled are JSON", "\n".join(bad_json[:5]))
    c.equal(other, 0, "eve.json has only alert and flow events")
    c.equal(flows, s["records"], "eve.json flow events = summary records")
    c.equal(sum(per_sid.values()), s["alerts"], "eve.json alerts = summary alerts")
    c.check(set(per_sid) <= set(sids), f"alert sids are the ones written: {sorted(per_sid)}")
    c.equal(sorted(per_sid), sids, "every generation's sid alerted")
    print(f"  alerts per sid: {dict(sorted(per_sid.items()))}")


def failed_reload(c, ws, cap, tmp, cleanup):
    print("-- a failed reload (rules.strict: true) keeps the running rules")
    out = os.path.join(tmp, "strict")
    os.mkdir(out)
    eve = os.path.join(out, "eve.json")
    rules = os.path.join(tmp, "strict.rules")
    write_rules(rules, match_all(4000))
    conf = os.path.join(tmp, "strict.yaml")
    with open(conf, "w") as f:
        f.write(f"input:\n  file: {cap}\n  loop: true\nworkers: 2\nverbose: 1\nrules:\n  files: [{rules}]\n  strict: true\n"
                f"output:\n  log_dir: {out}\n")
    agent = Agent([ws, "-c", conf], tmp, "strict", cleanup)
    if not wait_step(c, agent, lambda: tail_has_sid(eve, 4000), "alerts with sid 4000 appear"):
        return
    # One good rule with a new sid and one broken rule: without strict this
    # would load the good one; with strict nothing changes.
    write_rules(rules, match_all(4001) +
                'alert ip any any -> any any (msg:"broken"; ttl:>=0; sid:4002; content:"x"\n')
    agent.signal(ac.signal.SIGHUP)
    if not wait_step(c, agent, lambda: FAILED_RE.search(agent.stderr()), "SIGHUP: 'rule reload failed' logged"):
        return
    at_failure = file_size(eve)
    why = FAILED_RE.search(agent.stderr()).group(1)
    c.check("strict" in why and f"{rules}:2: sid 4002" in why, "the failure names strict rules and the broken rule",
            why)
    wait_step(c, agent, lambda: file_size(eve) > at_failure + (4 << 20), "alerts go on after the failed reload")
    write_rules(rules, match_all(4003))
    agent.signal(ac.signal.SIGHUP)
    wait_step(c, agent, lambda: RELOADED_RE.search(agent.stderr()), "a later good rewrite: 'rules reloaded' logged")
    wait_step(c, agent, lambda: tail_has_sid(eve, 4003), "alerts with sid 4003 after the good reload")
    rc = agent.stop()
    err, sout = agent.stderr(), agent.stdout()
    print(ac.indent(sout.strip() + "\n" + err.strip()[-2000:], 4))
    c.equal(rc, 0, "strict: exit status after SIGTERM", err[-2000:])
    c.equal(len(FAILED_RE.findall(err)), 1, "strict: one failed reload")
    c.equal(len(RELOADED_RE.findall(err)), 1, "strict: one successful reload")
    s = ac.parse_summary(sout)
    if not c.check(s is not None and s["alerts"] is not None, "strict: summary with alerts parses", sout):
        return
    c.equal(s["alerts"], s["packets"] + reassembled(sout + err), "strict: alerts = packets + reassembled datagrams")
    c.equal(s["dropped"], 0, "strict: nothing dropped", str(s["drops"]))
    per_sid, _, _, _, _ = scan_eve(eve)
    c.check(set(per_sid) == {4000, 4003}, f"strict: only the old sid and the one loaded later: {sorted(per_sid)}")
    c.equal(sum(per_sid.values()), s["alerts"], "strict: eve.json alerts = summary alerts")
    after, _, _, _, order = scan_eve(eve, at_failure)
    c.check(order[:1] == [4000] and after.get(4000, 0) > 1000,
            f"strict: after the failed reload the old sid kept alerting ({after.get(4000, 0)} alerts)", str(order[:10]))


def body(c, cleanup):
    ws, gen = ac.programs()
    tmp = ac.temp_dir(cleanup)
    cap, truth = ac.generate(gen, tmp, packets=5000, flows=100, seed=5)
    reload_under_load(c, ws, cap, tmp, cleanup)
    failed_reload(c, ws, cap, tmp, cleanup)


if __name__ == "__main__":
    ac.main("agent_rule_reload", body)
