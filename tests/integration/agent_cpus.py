#!/usr/bin/python3
"""CPU placement: --worker-cpus / --management-cpus and their config keys.

On a looping replay with the API up, every worker thread (and the file
reader) may run only on its worker CPU and every other thread (main, API,
exporter) only on the management CPUs, as /proc/PID/task/*/status says; the
config keys do the same as the flags; malformed lists, and at start CPUs
the process may not use, are usage errors (exit 2) naming the flag or
FILE:LINE (-T checks the form only). Needs
2 CPUs for the placement part (skipped with fewer).
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agent_common as ac  # noqa: E402


def thread_cpus(pid):
    """{thread name: set of Cpus_allowed_list values} of a running process."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                allowed = next(line.split(":", 1)[1].strip() for line in f if line.startswith("Cpus_allowed_list"))
        except (FileNotFoundError, StopIteration):
            continue
        out.setdefault(name, set()).add(allowed)
    return out


def usage_error(c, ws, args, what, *needles):
    r = ac.subprocess.run([ws] + args, capture_output=True, text=True, timeout=60)
    c.equal(r.returncode, 2, f"{what}: exit status", r.stderr)
    missing = [n for n in needles if n not in r.stderr]
    c.check(not missing, f"{what}: message names {', '.join(repr(n) for n in needles)}", r.stderr)


def placement(c, cleanup, ws, cap, tmp, how, extra, worker_cpu, mgmt_cpu):
    port = ac.free_tcp_port()
    agent = ac.Background([ws, "-r", cap, "--loop", "--workers", "2", "--api", f"127.0.0.1:{port}"] + extra,
                          os.path.join(tmp, f"agent-{how}.log"), cleanup)
    ok = ac.wait_for(lambda: "api listening" in agent.output(), 20)
    c.check(ok, f"{how}: the agent starts", agent.output()[-2000:])
    if not ok:
        return
    time.sleep(0.3)  # the export thread and the workers are up once the API is
    cpus = thread_cpus(agent.proc.pid)
    print(f"  threads: {sorted((k, sorted(v)) for k, v in cpus.items())}", flush=True)
    for name in ("ws-worker-0", "ws-worker-1", "ws-reader"):
        c.equal(cpus.get(name), {worker_cpu}, f"{how}: {name} runs only on CPU {worker_cpu}")
    others = {k: v for k, v in cpus.items() if not k.startswith("ws-worker") and k != "ws-reader"}
    c.check("ws-export" in others and any(k.startswith("civetweb") for k in others),
            f"{how}: the export and API threads are there", str(sorted(others)))
    wrong = {k: v for k, v in others.items() if v != {mgmt_cpu}}
    c.check(not wrong, f"{how}: every other thread (main, API, export) runs only on CPU {mgmt_cpu}", str(wrong))
    c.check(f"workers on CPUs {worker_cpu}, other threads on CPUs {mgmt_cpu}" in agent.output(),
            f"{how}: the placement is logged", agent.output()[-1000:])
    st, body = ac.http_get(port, "/api/v1/health")
    c.equal(st, 200, f"{how}: the API answers")
    code, secs = agent.stop()
    c.check(code == 0 and secs < 2.0, f"{how}: SIGTERM exits 0 within 2 s ({code}, {secs:.2f} s)")


def body(c, cleanup):
    ws, gen = ac.programs()
    tmp = ac.temp_dir(cleanup)
    cap, _ = ac.generate(gen, tmp, packets=20000, flows=600, seed=5)

    usage_error(c, ws, ["-r", cap, "--worker-cpus", "1-"], "a range without its end", "--worker-cpus", "'1-'")
    usage_error(c, ws, ["-r", cap, "--management-cpus", "x"], "not a number", "--management-cpus", "'x'")
    usage_error(c, ws, ["-r", cap, "--worker-cpus", "2,1"], "out of order", "--worker-cpus", "out of order")
    usage_error(c, ws, ["-r", cap, "--worker-cpus", "1000"], "a CPU the process may not use",
                "--worker-cpus (worker_cpus)", "CPU 1000 is not available")
    bad = os.path.join(tmp, "bad.yaml")
    with open(bad, "w") as f:
        f.write("workers: 1\nmanagement_cpus: [0, 0]\n")
    usage_error(c, ws, ["-c", bad, "-r", cap], "a config list with a repeat", f"{bad}:2:", "management_cpus")
    r = ac.subprocess.run([ws, "-T", "-r", cap, "--worker-cpus", "0", "--management-cpus", "0"], capture_output=True,
                          text=True, timeout=60)
    c.equal(r.returncode, 0, "-T accepts CPU lists the process may use", r.stderr)
    # A config is often checked on another machine than the one it is for:
    # -T checks the lists' form, the start checks the CPUs.
    r = ac.subprocess.run([ws, "-T", "-r", cap, "--worker-cpus", "1000-1002"], capture_output=True, text=True,
                          timeout=60)
    c.equal(r.returncode, 0, "-T leaves CPUs this machine lacks to the start", r.stderr)

    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        print(f"  skip placement: this process may run on {len(allowed)} CPU only", flush=True)
        return
    mgmt, work = str(allowed[0]), str(allowed[1])
    placement(c, cleanup, ws, cap, tmp, "flags", ["--worker-cpus", work, "--management-cpus", mgmt], work, mgmt)
    cfg = os.path.join(tmp, "cpus.yaml")
    with open(cfg, "w") as f:
        f.write(f"worker_cpus: [{work}]\nmanagement_cpus: \"{mgmt}\"\n")
    placement(c, cleanup, ws, cap, tmp, "config", ["-c", cfg], work, mgmt)


if __name__ == "__main__":
    ac.main("agent_cpus", body)
