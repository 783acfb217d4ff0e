#!/usr/bin/python3
"""The qos: config section through `wirescope -T -c FILE` (no root needed).

A good tc-mode config passes; a policy with a bad field is refused (exit 2)
naming qos.policies.NAME.classes[i].FIELD, the file and the line; in tc
mode a policy tc cannot express (police, app) is refused with its field and
the reason; tc mode without qos.interface, or next to inline pairs, is
refused; an inline-mode config with policies passes -T as an inline bridge.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agent_common as ac  # noqa: E402

GOOD = """qos:
  mode: tc
  interface: eth1
  policies:
    lab:
      classes:
        - name: iperf
          match: {proto: tcp, dst_port: 5201}
          shape: {rate_bps: 20000000, burst_bytes: 32000}
"""


def body(c, cleanup):
    ws, _ = ac.programs()
    tmp = ac.temp_dir(cleanup, "ws-qos-cfg-")

    def test(name, text):
        path = os.path.join(tmp, name + ".yaml")
        with open(path, "w") as f:
            f.write(text)
        r = ac.subprocess.run([ws, "-T", "-c", path], capture_output=True, text=True, timeout=60)
        return r.returncode, r.stdout + r.stderr, path

    rc, out, _ = test("good", GOOD)
    c.check(rc == 0 and "rules: loaded=0" in out, "a tc-mode config with a shape policy passes -T", out)

    rc, out, path = test("bad-field", GOOD.replace("rate_bps: 20000000", "rate_bps: -1"))
    c.check(rc == 2 and f"{path}:7: qos.policies.lab.classes[0].shape.rate_bps: must be a positive integer" in out,
            "a negative rate: exit 2 with FILE:LINE and the field path", out)

    rc, out, _ = test("typo", GOOD.replace("dst_port: 5201", "dport: 5201"))
    c.check(rc == 2 and "qos.policies.lab.classes[0].match.dport: unknown key" in out,
            "a misspelt match key: exit 2 naming it", out)

    police = GOOD + """        - name: voip
          match: {dscp: 46}
          police: {cir_bps: 2000000, cbs_bytes: 20000}
"""
    rc, out, _ = test("police", police)
    c.check(rc == 2 and "qos.policies.lab.classes[1].police: not supported in tc mode" in out,
            "tc mode: police is refused with its field and the reason", out)
    rc, out, _ = test("app", GOOD.replace("proto: tcp", "app: TLS"))
    c.check(rc == 2 and "qos.policies.lab.classes[0].match.app: " in out and "tc" in out,
            "tc mode: an nDPI app match is refused with its field", out)

    rc, out, _ = test("no-interface", GOOD.replace("  interface: eth1\n", ""))
    c.check(rc == 2 and "qos.mode: tc needs qos.interface" in out, "tc mode without qos.interface: exit 2", out)
    rc, out, _ = test("with-inline", "inline: [{a: m0, b: m1}]\n" + GOOD)
    c.check(rc == 2 and "qos.mode: tc shapes a host interface" in out, "tc mode with inline pairs: exit 2", out)
    rc, out, _ = test("mode", GOOD.replace("mode: tc", "mode: htb"))
    c.check(rc == 2 and "qos.mode: expected inline or tc, got 'htb'" in out, "an unknown mode: exit 2", out)

    inline = "inline: [{a: m0, b: m1}]\n" + GOOD.replace("  mode: tc\n  interface: eth1\n", "") + \
        """        - name: voip
          match: {dscp: 46}
          police: {cir_bps: 2000000, cbs_bytes: 20000}
          set_dscp: 46
"""
    rc, out, _ = test("inline", inline)
    c.check(rc == 0, "inline mode: the same policies with police and set_dscp pass -T", out)


if __name__ == "__main__":
    ac.main("qos_config_cli", body)
