#!/usr/bin/python3
"""The wirescope command line and config file, run as a user would.

--version and --help exit 0; every usage error exits 2 with a message that
names the problem (config file errors as FILE:LINE); a config file whose
keys equal the flags gives the same eve.json as the flags, and flags win
over the file; a capture cut in the middle of a record still exits 0,
keeps every packet before the cut and reports the damage on stderr; a
file that is not a capture is refused with a clear message.
"""
import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agent_common as ac  # noqa: E402


def run(ws, args):
    r = ac.subprocess.run([ws] + args, capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout, r.stderr


def usage_error(c, ws, args, what, *needles):
    """args must exit 2 with every needle (case-insensitive) in stderr."""
    rc, out, err = run(ws, args)
    c.equal(rc, 2, f"{what}: exit status", f"stdout: {out}\nstderr: {err}")
    text = err.lower()
    missing = [n for n in needles if n.lower() not in text]
    c.check(not missing, f"{what}: message names {', '.join(repr(n) for n in needles)}", f"stderr: {err}")


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def read(path):
    with open(path) as f:
        return f.read()


def body(c, cleanup):
    ws, gen = ac.programs()
    tmp = ac.temp_dir(cleanup)
    cap, truth = ac.generate(gen, tmp, packets=20000, flows=600, seed=4)

    rc, out, err = run(ws, ["--version"])
    c.equal(rc, 0, "--version: exit status", err)
    c.check(out.startswith("wirescope ") and any(ch.isdigit() for ch in out), f"--version prints it: {out.strip()!r}")
    rc, out, err = run(ws, ["--help"])
    c.equal(rc, 0, "--help: exit status", err)
    c.check(all(f in out for f in ("-r", "-i", "--ipfix", "--netflow9", "-c", "--workers", "-l")),
            "--help lists -r, -i, -c, -l, --workers, --ipfix, --netflow9", out)

    print("-- usage errors")
    usage_error(c, ws, [], "no input", "no input")
    usage_error(c, ws, ["-r", os.path.join(tmp, "missing.pcap")], "missing -r file", "missing.pcap", "no such file")
    usage_error(c, ws, ["-r", cap, "-i", "lo"], "both -r and -i", "both")
    usage_error(c, ws, ["-r", cap, "-k", "bogus"], "bad -k value", "checksum", "bogus")
    usage_error(c, ws, ["-r", cap, "--ipfix", "udp://nohostport"], "bad --ipfix URL", "--ipfix", "udp://nohostport")
    usage_error(c, ws, ["-r", cap, "--netflow9", "tcp://127.0.0.1:2055"], "NetFlow v9 over TCP", "--netflow9", "udp")
    usage_error(c, ws, ["-r", cap, "--capture", "netmap"], "unknown capture method", "capture", "netmap")
    usage_error(c, ws, ["-i", "net_pcap0", "--capture", "dpdk"], "DPDK capture without EAL arguments", "EAL",
                "--dpdk-eal-args")
    usage_error(c, ws, ["-r", cap, "--workers", "many"], "non-numeric --workers", "workers", "many")
    usage_error(c, ws, ["-r", cap, "--export-mtu", "100"], "too small --export-mtu", "mtu", "100")
    usage_error(c, ws, ["-r", cap, "--no-such-flag"], "unknown flag", "--no-such-flag")
    usage_error(c, ws, ["-i", "lo", "--loop"], "--loop without a file", "--loop")
    usage_error(c, ws, ["-i", "lo", "--replay-speed", "1"], "--replay-speed without a file", "--replay-speed")
    usage_error(c, ws, ["-r", cap, "--replay-speed", "-2"], "negative --replay-speed", "replay-speed", "between")

    print("-- config file errors")
    bad_key = write(os.path.join(tmp, "bad_key.yaml"),
                    "# comment\ninput:\n  file: x.pcap\noutput:\n  log_dir: /tmp\n  logdir: /tmp\n")
    usage_error(c, ws, ["-c", bad_key], "unknown config key", f"{bad_key}:6", "output.logdir")
    bad_type = write(os.path.join(tmp, "bad_type.yaml"), "input:\n  file: x.pcap\n\nworkers: two\n")
    usage_error(c, ws, ["-c", bad_type], "wrong type in config", f"{bad_type}:4", "workers", "two")
    bad_map = write(os.path.join(tmp, "bad_map.yaml"), "input: [a, b]\n")
    usage_error(c, ws, ["-c", bad_map], "list where a map belongs", f"{bad_map}:1", "input")
    bad_bool = write(os.path.join(tmp, "bad_bool.yaml"), "input:\n  file: x.pcap\n  loop: maybe\n")
    usage_error(c, ws, ["-c", bad_bool], "bad boolean in config", f"{bad_bool}:3", "loop", "maybe")
    bad_off = write(os.path.join(tmp, "bad_off.yaml"), "input:\n  file: x.pcap\n  disable_offloading: sometimes\n")
    usage_error(c, ws, ["-c", bad_off], "bad input.disable_offloading in config", f"{bad_off}:3",
                "disable_offloading", "sometimes")
    bad_ord = write(os.path.join(tmp, "bad_ord.yaml"), "input:\n  file: x.pcap\nrules:\n  action_order: [drop, pass, alert]\n")
    usage_error(c, ws, ["-c", bad_ord], "incomplete rules.action_order in config", f"{bad_ord}:4", "action_order",
                "each once")
    bad_ms = write(os.path.join(tmp, "bad_ms.yaml"), "input:\n  file: x.pcap\nstream:\n  midstream_policy: drop\n")
    usage_error(c, ws, ["-c", bad_ms], "bad stream.midstream_policy in config", f"{bad_ms}:4", "midstream_policy",
                "drop-flow")
    bad_pol = write(os.path.join(tmp, "bad_pol.yaml"), "input:\n  file: x.pcap\ndefrag:\n  policy: windows\n")
    usage_error(c, ws, ["-c", bad_pol], "unsupported defrag.policy in config", f"{bad_pol}:4", "policy", "windows",
                "bsd, linux, first or last")
    bad_trk = write(os.path.join(tmp, "bad_trk.yaml"), "input:\n  file: x.pcap\ndefrag:\n  trackers: 0\n")
    usage_error(c, ws, ["-c", bad_trk], "no defrag trackers in config", f"{bad_trk}:4", "trackers")
    bad_v6 = write(os.path.join(tmp, "bad_v6.yaml"), "input:\n  file: x.pcap\noutput:\n  eve:\n    ipv6: short\n")
    usage_error(c, ws, ["-c", bad_v6], "bad output.eve.ipv6 in config", f"{bad_v6}:5", "ipv6", "short")
    bad_speed = write(os.path.join(tmp, "bad_speed.yaml"), "input:\n  file: x.pcap\n  replay_speed: fast\n")
    usage_error(c, ws, ["-c", bad_speed], "bad replay_speed in config", f"{bad_speed}:3", "replay_speed", "fast")
    bad_yaml = write(os.path.join(tmp, "bad_yaml.yaml"), "input:\n  file: [x.pcap\nworkers: 2\n")
    usage_error(c, ws, ["-c", bad_yaml], "YAML syntax error", f"{bad_yaml}:")
    usage_error(c, ws, ["-c", os.path.join(tmp, "nope.yaml")], "missing config file", "nope.yaml")

    print("-- config file = flags")
    flags_dir = os.path.join(tmp, "flags")
    conf_dir = os.path.join(tmp, "conf")
    os.mkdir(flags_dir)
    os.mkdir(conf_dir)
    # One worker: the records are then in a fixed order too, and this
    # compares the config keys, not the determinism across workers
    # (agent_eve's subject).
    rc, out, err = run(ws, ["-r", cap, "-l", flags_dir, "--workers", "1", "--active-timeout", "60", "-k", "all",
                            "--max-flows", "100000"])
    c.equal(rc, 0, "flags run: exit status", err)
    conf = write(os.path.join(tmp, "agent.yaml"),
                 f"input:\n  file: {cap}\noutput:\n  log_dir: {conf_dir}\nworkers: 1\nchecksum: all\n"
                 "flow:\n  active_timeout: 60\n  max_flows: 100000\n")
    rc2, out2, err2 = run(ws, ["-c", conf])
    c.equal(rc2, 0, "config run: exit status", err2)
    a, b = read(os.path.join(flags_dir, "eve.json")), read(os.path.join(conf_dir, "eve.json"))
    c.check(a and a == b, f"config file gives the same eve.json as the flags ({a.count(chr(10))} lines)")
    plain_dir = os.path.join(tmp, "plain")
    os.mkdir(plain_dir)
    run(ws, ["-r", cap, "-l", plain_dir, "--workers", "1"])
    c.check(read(os.path.join(plain_dir, "eve.json")) != a,
            "flow.active_timeout 60 changes the records (so the key is read, not ignored)")
    wconf = write(os.path.join(tmp, "workers.yaml"), f"input:\n  file: {cap}\nworkers: 3\nverbose: 1\n")
    rc, _, err = run(ws, ["-c", wconf])
    c.check(rc == 0 and "3 workers" in err, "workers: 3 and verbose: 1 from the config file take effect", err)
    rc, _, err = run(ws, ["-c", wconf, "--workers", "2"])
    c.check(rc == 0 and "2 workers" in err, "--workers on the command line wins over the config file", err)
    s1, s2 = ac.parse_summary(out), ac.parse_summary(out2)
    c.check(s1 is not None and s1 == {**s2, "seconds": s1["seconds"]} if s2 else False,
            "config and flags runs print the same summary counts", out + out2)

    over_dir = os.path.join(tmp, "override")
    os.mkdir(over_dir)
    conf2 = write(os.path.join(tmp, "override.yaml"),
                  f"input:\n  file: {os.path.join(tmp, 'not-there.pcap')}\noutput:\n  log_dir: {over_dir}\n"
                  "  eve:\n    filename: from-config.json\n")
    rc, out, err = run(ws, ["-c", conf2, "-r", cap, "--eve-file", "from-flag.json"])
    c.equal(rc, 0, "flags override the config file: exit status", err)
    c.check(os.path.exists(os.path.join(over_dir, "from-flag.json"))
            and not os.path.exists(os.path.join(over_dir, "from-config.json")),
            "--eve-file and -r win over output.eve.filename and input.file", str(os.listdir(over_dir)))

    print("-- paced replay")
    # The capture's recorded span, from its first and last record headers.
    recs = ac.pcap_records(cap)
    with open(cap, "rb") as f:
        data = f.read()
    def ts(rec):
        sec, frac = struct.unpack_from("<II", data, rec[0])
        return sec + frac / 1e6
    span = ts(recs[-1]) - ts(recs[0])
    speed = span / 1.5  # about 1.5 s of replay
    paced_dir = os.path.join(tmp, "paced")
    os.mkdir(paced_dir)
    t0 = time.monotonic()
    rc, _, err = run(ws, ["-r", cap, "-l", paced_dir, "--workers", "1", "--active-timeout", "60", "-k", "all",
                          "--max-flows", "100000", "--replay-speed", f"{speed:.6f}"])
    took = time.monotonic() - t0
    c.equal(rc, 0, "paced replay: exit status", err)
    # A lower bound only: pacing may never be faster than the recording.
    c.check(took >= span / speed * 0.98, f"paced replay takes the recorded {span:.1f} s / {speed:.1f} "
            f"= {span / speed:.2f} s at least (took {took:.2f} s)")
    # The same records; the order of those ended by the same timeout sweep
    # follows the burst boundaries, which pacing moves.
    paced = read(os.path.join(paced_dir, "eve.json"))
    c.check(paced and sorted(paced.splitlines()) == sorted(a.splitlines()),
            "paced replay writes the same records as the unpaced run (timestamps stay the file's)")

    print("-- damaged and wrong input files")
    recs = ac.pcap_records(cap)
    c.equal(len(recs), truth["packets"], "the capture has one record per packet")
    keep = len(recs) // 2
    cut_at = recs[keep][0] + 16 + 10  # inside the data of record keep (0-based)
    trunc = os.path.join(tmp, "truncated.pcap")
    with open(cap, "rb") as f, open(trunc, "wb") as g:
        g.write(f.read(cut_at))
    tdir = os.path.join(tmp, "trunc")
    os.mkdir(tdir)
    rc, out, err = run(ws, ["-r", trunc, "-l", tdir, "--workers", "2"])
    c.equal(rc, 0, "truncated capture: exit status 0", err)
    c.check("truncated.pcap" in err and "truncated" in err.replace("truncated.pcap", ""),
            "truncated capture: stderr names the file and the damage", err)
    s = ac.parse_summary(out)
    if c.check(s is not None, "truncated capture: summary parses", out):
        c.equal(s["packets"], keep, "truncated capture: every packet before the cut is read")
        c.equal(s["drops"].get("truncated_record"), 1, "truncated capture: the cut record is counted",
                str(s["drops"]))
        records, errors = ac.read_eve(os.path.join(tdir, "eve.json"))
        c.check(records and not errors, f"truncated capture: {len(records)} flow records written")
        c.equal(ac.eve_totals(records)[0], keep, "truncated capture: the flows hold every packet before the cut")

    text = write(os.path.join(tmp, "notes.txt"), "these are not packets\n" * 10)
    rc, out, err = run(ws, ["-r", text])
    c.check(rc != 0, "text file as capture: non-zero exit status", err)
    c.check("notes.txt" in err and "not a pcap" in err, "text file as capture: message names the file and says "
            "it is not a capture", err)
    empty = write(os.path.join(tmp, "empty.pcap"), "")
    rc, out, err = run(ws, ["-r", empty])
    c.check(rc != 0 and "empty.pcap" in err, f"empty file as capture: refused with its name (exit {rc})", err)
    rc, out, err = run(ws, ["-r", cap, "-l", os.path.join(tmp, "no-such-dir")])
    c.check(rc != 0 and "no-such-dir" in err, f"missing log dir: refused with its name (exit {rc})", err)


if __name__ == "__main__":
    ac.main("agent_cli", body)
