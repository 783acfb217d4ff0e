#!/usr/bin/python3
"""deploy/kubernetes: the DaemonSet, its ConfigMap and the example Secret, checked statically.

  - every file parses (python3-yaml) and holds one DaemonSet, ConfigMap, Secret;
  - hostNetwork; the container drops ALL capabilities and adds exactly
    NET_RAW, NET_ADMIN, IPC_LOCK, with no privilege escalation, not privileged;
  - the config comes from the ConfigMap (volume, mount, and -c naming a key
    of it); the tokens come from the Secret: the config's api.tokens_file,
    taken from the config's mounted directory, lands on a key of the Secret;
    the readiness probe's token file too;
  - Prometheus annotations: scrape "true", path /metrics, port = the
    container port = the port the config's api.listen binds, and /metrics
    open (api.metrics_auth false);
  - liveness httpGet /api/v1/health on that port, readiness on /api/v1/ready;
  - the ConfigMap's config, with the Secret's files laid out as the pod
    mounts them, passes `wirescope -T -c`, and a misspelt token file is refused.

argv: WIRESCOPE DIR (deploy/kubernetes).
"""
import os
import posixpath
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import agent_common as ac  # noqa: E402

try:
    import yaml
except ImportError:
    ac.skip("python3-yaml not installed")

CAPS = {"NET_RAW", "NET_ADMIN", "IPC_LOCK"}


def body(c, cleanup):
    ws, d = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    docs = []
    for name in sorted(os.listdir(d)):
        if name.endswith(".yaml"):
            with open(os.path.join(d, name)) as f:
                try:
                    docs += [x for x in yaml.safe_load_all(f) if x]
                except yaml.YAMLError as e:
                    c.check(False, f"{name} parses", str(e))
    by_kind = {}
    for x in docs:
        by_kind.setdefault(x.get("kind"), []).append(x)
    for k in ("DaemonSet", "ConfigMap", "Secret"):
        c.equal(len(by_kind.get(k, [])), 1, f"one {k}")
    if any(len(by_kind.get(k, [])) != 1 for k in ("DaemonSet", "ConfigMap", "Secret")):
        return
    ds, cm, secret = by_kind["DaemonSet"][0], by_kind["ConfigMap"][0], by_kind["Secret"][0]
    ns = {x["metadata"].get("namespace") for x in (ds, cm, secret)}
    c.equal(len(ns), 1, f"all in one namespace: {ns}")
    pod = ds["spec"]["template"]["spec"]
    c.equal(pod.get("hostNetwork"), True, "hostNetwork: true")
    ctr = pod["containers"][0]
    sc = ctr.get("securityContext", {})
    caps = sc.get("capabilities", {})
    c.equal(caps.get("drop"), ["ALL"], "capabilities.drop: [ALL]")
    c.equal(sorted(caps.get("add", [])), sorted(CAPS), "capabilities.add: exactly NET_RAW NET_ADMIN IPC_LOCK")
    c.equal(sc.get("allowPrivilegeEscalation"), False, "allowPrivilegeEscalation: false")
    c.check(not sc.get("privileged"), "not privileged")

    vols = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = {m["name"]: m["mountPath"] for m in ctr.get("volumeMounts", [])}
    cm_vol = next((n for n, v in vols.items() if v.get("configMap", {}).get("name") == cm["metadata"]["name"]), None)
    sec_vol = next((n for n, v in vols.items() if v.get("secret", {}).get("secretName") == secret["metadata"]["name"]),
                   None)
    c.check(cm_vol in mounts, f"the ConfigMap {cm['metadata']['name']} is mounted ({cm_vol})")
    c.check(sec_vol in mounts, f"the Secret {secret['metadata']['name']} is mounted ({sec_vol})")
    if cm_vol not in mounts or sec_vol not in mounts:
        return
    args = ctr.get("args", [])
    cfg_path = args[args.index("-c") + 1] if "-c" in args else ""
    key = posixpath.relpath(cfg_path, mounts[cm_vol]) if cfg_path.startswith(mounts[cm_vol] + "/") else None
    c.check(key in cm.get("data", {}), f"-c {cfg_path} is the ConfigMap's key {key}")
    if key not in cm.get("data", {}):
        return
    cfg = yaml.safe_load(cm["data"][key])
    api = cfg.get("api", {})
    secret_files = dict(secret.get("stringData", {}))
    tokens_file = api.get("tokens_file", "")
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(cfg_path), tokens_file))
    c.check(tokens_file and posixpath.dirname(resolved) == mounts[sec_vol]
            and posixpath.basename(resolved) in secret_files,
            f"api.tokens_file {tokens_file} -> {resolved}: a key of the Secret")
    c.check(not api.get("tokens"), "no tokens in the ConfigMap itself")

    port = int(api.get("listen", ":0").rsplit(":", 1)[1])
    ann = ds["spec"]["template"]["metadata"].get("annotations", {})
    c.equal(ann.get("prometheus.io/scrape"), "true", "prometheus.io/scrape: \"true\"")
    c.equal(ann.get("prometheus.io/path"), "/metrics", "prometheus.io/path: /metrics")
    c.equal(ann.get("prometheus.io/port"), str(port), "prometheus.io/port = the port api.listen binds")
    c.equal([p.get("containerPort") for p in ctr.get("ports", [])], [port], "containerPort = that port")
    c.equal(api.get("metrics_auth", False), False, "/metrics needs no token (api.metrics_auth false)")
    live = ctr.get("livenessProbe", {}).get("httpGet", {})
    c.equal((live.get("path"), live.get("port")), ("/api/v1/health", port), "livenessProbe: GET /api/v1/health")
    ready = ctr.get("readinessProbe", {})
    ready_text = yaml.safe_dump(ready)
    c.check("/api/v1/ready" in ready_text and f"/{port}" in ready_text or
            ready.get("httpGet", {}).get("path") == "/api/v1/ready",
            "readinessProbe: /api/v1/ready on that port", ready_text)
    if "probe-token" in ready_text:
        c.check(f"{mounts[sec_vol]}/probe-token" in ready_text and "probe-token" in secret_files,
                "the readiness probe's token is the Secret's probe-token")
    c.check(any(m == "/var/log/wirescope" for m in mounts.values()) and cfg["output"]["log_dir"] == "/var/log/wirescope",
            "eve.json goes to a mounted /var/log/wirescope")

    # -T on the ConfigMap's config with the Secret laid out as mounted.
    tmp = tempfile.mkdtemp(prefix="ws-k8s-")
    cleanup.add(shutil.rmtree, tmp, True)

    def lay_out(files):
        root = tempfile.mkdtemp(dir=tmp)
        for path, text in [(cfg_path, cm["data"][key])] + [(mounts[sec_vol] + "/" + k, v) for k, v in files.items()]:
            p = os.path.join(root, path.lstrip("/"))
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w") as f:
                f.write(text)
        return os.path.join(root, cfg_path.lstrip("/"))

    r = subprocess.run([ws, "-T", "-c", lay_out(secret_files)], capture_output=True, text=True, timeout=120)
    c.check(r.returncode == 0 and "rules: loaded=" in r.stdout, "wirescope -T -c on the ConfigMap's config",
            r.stdout + r.stderr)
    broken = dict(secret_files)
    broken["tokens.yaml"] = broken.get("tokens.yaml", "").replace("role: viewer", "role: reader", 1)
    r = subprocess.run([ws, "-T", "-c", lay_out(broken)], capture_output=True, text=True, timeout=120)
    c.check(r.returncode == 2 and "tokens.yaml:" in r.stderr and "'reader'" in r.stderr,
            "control: a bad role in the Secret's tokens.yaml is refused naming the file", r.stderr)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        print(f"usage: {sys.argv[0]} WIRESCOPE DIR", file=sys.stderr)
        sys.exit(2)
    ac.main("k8s_manifests", body)
