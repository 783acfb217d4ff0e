#!/usr/bin/python3
"""The Debian package: built from the install tree, dependencies declared, runs from a clean root.

deploy/package/build-deb.sh builds the .deb from this build directory, then:

  - `dpkg-deb -I`: Package wirescope, Version = the meson project version,
    Architecture = dpkg --print-architecture, Depends, conffiles (every file
    under /etc), postinst/prerm/postrm;
  - `dpkg-deb -c`: the binary, the unit, sysusers.d/tmpfiles.d, logrotate,
    the default config and the five examples, the monitoring assets;
  - every library the binary links directly (ELF NEEDED) belongs to a package
    named in Depends, and every library ldd loads belongs to a package in the
    closure of Depends over the installed packages' own Depends;
  - a clean root is made from the .deb (`dpkg -x`) plus only the library
    files of the packages in that closure (nothing else of the host), and
    `wirescope --version` and `wirescope -T -c` on the default config and each
    installed example run in it with chroot, and so does the agent serving
    HTTPS (civetweb's OpenSSL lookups answered by the package's compatibility
    objects: the root has no libssl-dev symlinks).

What this proves: the package carries what the binary and its configs need,
and its declared dependencies carry every library it loads, as ld.so
resolves them from the default paths. What it does not: the maintainer
scripts are not run (no shell or systemd in the clean root; the systemd_unit
test runs systemd-sysusers and systemd-tmpfiles on the same files), the
version constraints are this host's, and nothing is captured.

argv: build-deb.sh, the build directory. Skips (77) without dpkg-deb, when
the build is not configured with --prefix=/usr (deploy/test.sh's is), or,
for the chroot part only, when not root.
"""
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import agent_common as ac  # noqa: E402

LIB_DIRS = ("/lib/", "/lib64/", "/usr/lib/", "/usr/lib64/")
DEMO_PCAP = os.path.join(HERE, "..", "..", "deploy", "demo", "demo.pcap")


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=kw.pop("timeout", 600), **kw)


def deb_fields(deb):
    text = run(["dpkg-deb", "-f", deb]).stdout
    fields, key = {}, None
    for line in text.splitlines():
        if line.startswith(" ") and key:
            fields[key] += "\n" + line
        elif ":" in line:
            key, v = line.split(":", 1)
            fields[key] = v.strip()
    return fields


def dep_names(depends):
    """Package names of a Depends value: each alternative's names (a | b -> [a, b])."""
    groups = []
    for group in filter(None, (g.strip() for g in depends.split(","))):
        groups.append([re.sub(r"\s*\(.*\)", "", alt).strip().split(":")[0] for alt in group.split("|")])
    return groups


def installed(pkg):
    r = run(["dpkg-query", "-W", "-f", "${Status}", pkg])
    return r.returncode == 0 and "install ok installed" in r.stdout


def closure(groups):
    """Installed packages reached from the Depends groups, following each package's Depends and Pre-Depends."""
    seen, todo = set(), []
    for g in groups:
        todo.append(next((p for p in g if installed(p)), g[0]))
    while todo:
        p = todo.pop()
        if p in seen or not installed(p):
            continue
        seen.add(p)
        deps = run(["dpkg-query", "-W", "-f", "${Depends}, ${Pre-Depends}", p]).stdout
        for g in dep_names(deps):
            todo.append(next((q for q in g if installed(q)), g[0]))
    return seen


def owner(path):
    for p in (path, os.path.realpath(path)):
        r = run(["dpkg", "-S", p])
        if r.returncode == 0:
            return r.stdout.split(":")[0].split(",")[0].strip()
        # merged /usr: dpkg knows /lib/x86_64-linux-gnu/..., ld.so reports /usr/lib/...
        if p.startswith("/usr/lib/"):
            r = run(["dpkg", "-S", p[4:]])
            if r.returncode == 0:
                return r.stdout.split(":")[0].split(",")[0].strip()
    return None


def copy_libs(pkgs, root):
    """Copies the regular files and symlinks each package has under the library dirs into root."""
    n = 0
    for p in sorted(pkgs):
        for path in run(["dpkg", "-L", p]).stdout.splitlines():
            if not path.startswith(LIB_DIRS) or not os.path.lexists(path) or (os.path.isdir(path) and not os.path.islink(path)):
                continue
            dst = os.path.join(root, path.lstrip("/"))
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            if os.path.lexists(dst):
                continue
            if os.path.islink(path):
                os.symlink(os.readlink(path), dst)
            else:
                shutil.copy2(path, dst)
            n += 1
    return n


def body(c, cleanup):
    script, build = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    for tool in ("dpkg-deb", "dpkg-query"):
        if not shutil.which(tool):
            ac.skip(f"{tool} not installed")
    opts = json.loads(run(["meson", "introspect", build, "--buildoptions"]).stdout)
    prefix = next(o["value"] for o in opts if o["name"] == "prefix")
    if prefix != "/usr":
        ac.skip(f"{build} is configured with prefix {prefix}; the package needs --prefix=/usr")
    version = json.loads(run(["meson", "introspect", build, "--projectinfo"]).stdout)["version"]
    arch = run(["dpkg", "--print-architecture"]).stdout.strip()

    tmp = tempfile.mkdtemp(prefix="ws-deb-")
    cleanup.add(shutil.rmtree, tmp, True)
    r = run(["bash", script, build, os.path.join(tmp, "out")])
    deb = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
    if not c.check(r.returncode == 0 and deb.endswith(".deb") and os.path.exists(deb),
                   "build-deb.sh builds a .deb", r.stdout + r.stderr):
        return
    c.equal(os.path.basename(deb), f"wirescope_{version}_{arch}.deb", "file name")

    f = deb_fields(deb)
    c.equal(f.get("Package"), "wirescope", "Package")
    c.equal(f.get("Version"), version, "Version = the meson project version")
    c.equal(f.get("Architecture"), arch, "Architecture = dpkg --print-architecture")
    groups = dep_names(f.get("Depends", ""))
    c.check(groups, f"Depends is declared: {f.get('Depends')}")
    info = run(["dpkg-deb", "-I", deb]).stdout
    for member in ("control", "conffiles", "postinst", "prerm", "postrm"):
        c.check(re.search(rf"^\s+\d+ bytes,\s+\d+ lines\s+\*?\s*{member}\b", info, re.M),
                f"dpkg-deb -I lists {member}", info)

    tree = os.path.join(tmp, "tree")
    r = run(["dpkg-deb", "-R", deb, tree])
    c.equal(r.returncode, 0, "dpkg-deb -R unpacks it", r.stderr)
    conffiles = open(os.path.join(tree, "DEBIAN", "conffiles")).read().split()
    etc = sorted("/" + os.path.relpath(os.path.join(d, n), tree)
                 for d, _, ns in os.walk(os.path.join(tree, "etc")) for n in ns)
    c.equal(sorted(conffiles), etc, "conffiles = every file under /etc")
    examples = sorted(os.listdir(os.path.join(tree, "etc", "wirescope", "examples")))
    c.equal(len(examples), 5, f"five example configs: {examples}")
    want = ["usr/bin/wirescope", "usr/lib/systemd/system/wirescope.service", "usr/lib/sysusers.d/wirescope.conf",
            "usr/lib/tmpfiles.d/wirescope.conf", "etc/logrotate.d/wirescope", "etc/wirescope/wirescope.yaml",
            "usr/share/wirescope/prometheus/wirescope.rules.yml", "usr/share/wirescope/web/index.html"]
    for p in want:
        c.check(os.path.exists(os.path.join(tree, p)), f"the package has /{p}")
    unit = open(os.path.join(tree, "usr/lib/systemd/system/wirescope.service")).read()
    c.check("ExecStart=/usr/bin/wirescope -c /etc/wirescope/wirescope.yaml" in unit,
            "the unit starts /usr/bin/wirescope -c /etc/wirescope/wirescope.yaml")

    binary = os.path.join(tree, "usr", "bin", "wirescope")
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", run(["readelf", "-dW", binary]).stdout)
    ldd = dict(re.findall(r"^\s*(\S+) => (/\S+)", run(["ldd", binary]).stdout, re.M))
    declared = {p for g in groups for p in g}
    for lib in needed:
        pkg = owner(ldd.get(lib, lib))
        c.check(pkg in declared, f"NEEDED {lib}: from {pkg}, declared in Depends")
    reach = closure(groups)
    missing = [(lib, owner(path)) for lib, path in ldd.items() if owner(path) not in reach]
    c.check(not missing, f"all {len(ldd)} libraries ldd loads come from the Depends closure ({len(reach)} packages)",
            str(missing))

    if os.geteuid() != 0 or not shutil.which("chroot"):
        print("  (not root or no chroot: the clean-root run is skipped)")
        return
    root = os.path.join(tmp, "root")
    r = run(["dpkg", "-x", deb, root])
    c.equal(r.returncode, 0, "dpkg -x into an empty directory", r.stderr)
    # merged /usr as on the host: /lib -> usr/lib and so on.
    for top in ("lib", "lib64", "bin", "sbin"):
        if os.path.islink("/" + top) and not os.path.lexists(os.path.join(root, top)):
            target = os.readlink("/" + top)
            os.makedirs(os.path.join(root, target.lstrip("/")), exist_ok=True)
            os.symlink(target, os.path.join(root, top))
    n = copy_libs(reach, root)
    print(f"  clean root: the package and {n} library files of {len(reach)} packages")
    r = run(["chroot", root, "/usr/bin/wirescope", "--version"])
    c.check(r.returncode == 0 and r.stdout.strip() == f"wirescope {version}",
            f"chroot: wirescope --version prints 'wirescope {version}'", r.stdout + r.stderr)
    for cfg in ["/etc/wirescope/wirescope.yaml"] + [f"/etc/wirescope/examples/{e}" for e in examples]:
        r = run(["chroot", root, "/usr/bin/wirescope", "-T", "-c", cfg])
        c.check(r.returncode == 0 and "rules: loaded=" in r.stdout, f"chroot: wirescope -T -c {cfg}",
                r.stdout + r.stderr)

    https_in_root(c, cleanup, root, tmp)


def https_in_root(c, cleanup, root, tmp):
    """HTTPS from the package alone. The clean root has libssl3's files but no
    libssl.so or libcrypto.so (libssl-dev's symlinks), the names civetweb
    dlopen()s: only the package's compatibility objects answer them."""
    openssl = shutil.which("openssl")
    if not openssl:
        print("  (no openssl tool: the HTTPS run in the clean root is skipped)")
        return
    dev_names = [os.path.join(d, n) for d, _, ns in os.walk(root) for n in ns if n in ("libssl.so", "libcrypto.so")]
    c.check(not dev_names, "the clean root has no file named libssl.so or libcrypto.so", str(dev_names))
    work = os.path.join(root, "tmp", "tls")
    os.makedirs(work)
    crt = os.path.join(work, "api.crt")
    r = run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", os.path.join(work, "api.key"),
             "-out", crt, "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"])
    if not c.check(r.returncode == 0, "openssl req makes a test certificate", r.stderr):
        return
    shutil.copy(DEMO_PCAP, os.path.join(work, "demo.pcap"))
    with open(os.path.join(work, "tls.yaml"), "w") as f:
        f.write("api:\n  tls_cert: /tmp/tls/api.crt\n  tls_key: /tmp/tls/api.key\n")
    port = ac.free_tcp_port()
    agent = ac.Background(["chroot", root, "/usr/bin/wirescope", "-c", "/tmp/tls/tls.yaml", "-r", "/tmp/tls/demo.pcap",
                           "--loop", "--workers", "1", "--api", f"127.0.0.1:{port}"],
                          os.path.join(tmp, "tls.log"), cleanup)
    ac.wait_for(lambda: "api listening" in agent.output() or not agent.running(), 20)
    answer = None
    if agent.running():
        try:
            ctx = ssl.create_default_context(cafile=crt)
            with urllib.request.urlopen(f"https://127.0.0.1:{port}/api/v1/health", context=ctx, timeout=10) as resp:
                answer = (resp.status, json.loads(resp.read()))
        except OSError as e:
            answer = repr(e)
    c.check(answer == (200, {"status": "ok"}),
            f"chroot: HTTPS GET /api/v1/health with api.tls_cert, without libssl-dev ({ac.short(answer, 120)})",
            agent.output()[-800:])
    code, _ = agent.stop()
    c.check(code == 0, f"chroot: the HTTPS agent exits 0 on SIGTERM ({code})", agent.output()[-400:])


if __name__ == "__main__":
    if len(sys.argv) < 3:
        print(f"usage: {sys.argv[0]} BUILD_DEB_SH BUILD_DIR", file=sys.stderr)
        sys.exit(2)
    ac.main("deb_package", body)
