"""End-to-end test of the traffic routes (/flows, /flows/top, /hosts/top,
/alerts): the real agent replaying the demo capture in a loop with the demo
rules and two workers, spoken to over HTTP.

usage: api_traffic.py WIRESCOPE DEMO_PCAP DEMO_RULES
Exit status: 0 pass, 1 fail, 77 skip.
"""

import ipaddress
import os
import shutil
import signal
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from api_agent import ADMIN, VIEWER, Agent, check, failures, is_error, write_config  # noqa: E402


def get(a, path, token=VIEWER):
    return a.json("GET", path, token)


def total(f, what):
    return f[what + "_toserver"] + f[what + "_toclient"]


def main():
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    ws, pcap, rules = (os.path.abspath(x) for x in sys.argv[1:4])
    if not os.access(ws, os.X_OK):
        print(f"SKIP: {ws} not built")
        return 77
    tmp = tempfile.mkdtemp(prefix="ws-traffic-")
    a = None
    try:
        cfg = os.path.join(tmp, "agent.yaml")
        write_config(cfg, "  rate_limit: {requests_per_second: 10000, burst: 10000}\n"
                          "  flow_refresh_ms: 200\n  alert_history: 20000\n")
        a = Agent(ws, ["-c", cfg, "-r", pcap, "--loop", "-S", rules, "--api", "127.0.0.1:0",
                       "--workers", "2"], tmp, "traffic")

        # Flows: wait for the replay to fill the tables.
        deadline = time.time() + 20
        st, body = None, None
        while time.time() < deadline:
            st, _, body = get(a, "/api/v1/flows?limit=1000")
            if st == 200 and body["matched"] >= 11:
                break
            time.sleep(0.2)
        check(st == 200 and body["matched"] >= 11, f"GET /flows lists active flows ({body and body.get('matched')})",
              str(body)[:300])
        snap = body["snapshot"]
        check(snap["workers_missing"] == 0 and snap["flows"] >= body["matched"],
              f"the snapshot holds every worker's flows ({snap})")
        flows = body["flows"]
        needed = {"flow_id", "src_ip", "src_port", "dest_ip", "dest_port", "proto", "pkts_toserver",
                  "pkts_toclient", "bytes_toserver", "bytes_toclient", "start", "last_seen", "state"}
        check(all(needed <= set(f) for f in flows), "every flow has the EVE-named fields",
              str(flows[0]) if flows else "")
        sizes = [total(f, "bytes") for f in flows]
        check(sizes == sorted(sizes, reverse=True), "flows come largest first (sort=bytes)")
        check(len({f["flow_id"] for f in flows}) == len(flows), "no flow twice in one page")
        check(len({f["worker"] for f in flows}) == 2, "both workers' flows are listed")

        # Pages of 5 with the cursor: distinct rows, in order, ending with null. The table
        # holds at least 11 flows by now (how many more depends on how far the replay got),
        # so there are at least three pages.
        seen, cursor, pages = [], None, 0
        while pages < 200:
            q = "limit=5&sort=packets" + (f"&cursor={urllib.parse.quote(cursor)}" if cursor else "")
            st, _, page = get(a, "/api/v1/flows?" + q)
            if not check(st == 200, f"page {pages + 1} answers 200", str(page)[:200]):
                break
            pages += 1
            if len(page["flows"]) > 5:
                check(False, "a page holds at most limit rows")
            seen += [(total(f, "pkts"), f["flow_id"]) for f in page["flows"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        ids = [i for _, i in seen]
        check(pages > 1 and len(ids) == len(set(ids)), f"{pages} pages, no flow on two pages ({len(ids)} rows)")
        ordered = all(seen[i][0] >= seen[i + 1][0] for i in range(len(seen) - 1))
        check(ordered, "paging by packets keeps the order across pages (counters may grow between pages)")

        # Filters.
        proto_udp = get(a, "/api/v1/flows?proto=udp&limit=1000")[2]["flows"]
        check(proto_udp and all(f["proto"] == "UDP" for f in proto_udp), f"proto=udp lists only UDP ({len(proto_udp)})")
        some = flows[0]
        port = some["dest_port"]
        by_port = get(a, f"/api/v1/flows?port={port}&limit=1000")[2]["flows"]
        check(by_port and all(port in (f["src_port"], f["dest_port"]) for f in by_port), f"port={port} filters")
        net = ipaddress.ip_network(some["src_ip"] + ("/24" if ":" not in some["src_ip"] else "/64"), strict=False)
        by_ip = get(a, "/api/v1/flows?limit=1000&ip=" + urllib.parse.quote(str(net)))[2]["flows"]
        check(by_ip and all(ipaddress.ip_address(f["src_ip"]) in net or ipaddress.ip_address(f["dest_ip"]) in net
                            for f in by_ip), f"ip={net} filters")
        check(get(a, "/api/v1/flows?vlan=4000")[2]["matched"] == 0, "vlan=4000 matches nothing in an untagged capture")
        for bad, param in [("limit=0", "limit"), ("limit=5000", "limit"), ("sort=fast", "sort"), ("proto=xx", "proto"),
                           ("ip=300.1.1.1", "ip"), ("cursor=garbage", "cursor")]:
            st, _, err = get(a, "/api/v1/flows?" + bad)
            check(st == 400 and is_error(err, 400) and err["error"]["message"].startswith(param + ":"),
                  f"GET /flows?{bad} → 400 naming {param}", str(err))

        # Top flows and hosts agree with the full listing of one snapshot.
        st, _, top = get(a, "/api/v1/flows/top?by=bytes&n=3")
        check(st == 200 and 1 <= len(top["flows"]) <= 3, "GET /flows/top answers")
        tb = [total(f, "bytes") for f in top["flows"]]
        check(tb == sorted(tb, reverse=True), "top flows are largest first")
        st, _, hosts = get(a, "/api/v1/hosts/top?by=packets&n=5")
        check(st == 200 and 1 <= len(hosts["hosts"]) <= 5 and all({"ip", "packets", "bytes", "flows"} <= set(h)
                                                                   for h in hosts["hosts"]), "GET /hosts/top answers")
        hp = [h["packets"] for h in hosts["hosts"]]
        check(hp == sorted(hp, reverse=True), "top hosts are largest first")
        # One snapshot: /flows with limit=1000 and the host totals must agree.
        full = get(a, "/api/v1/flows?limit=1000")[2]
        hosts = get(a, "/api/v1/hosts/top?by=bytes&n=1000")[2]
        if full["snapshot"]["taken"] == hosts["snapshot"]["taken"] and full["next_cursor"] is None:
            want = {}
            for f in full["flows"]:
                for ip in (f["src_ip"], f["dest_ip"]):
                    want[ip] = want.get(ip, 0) + total(f, "bytes")
            got = {h["ip"]: h["bytes"] for h in hosts["hosts"]}
            check(got == want, "host totals are the sums over the listed flows")
        for bad in ["by=flows", "n=0", "n=-1", "n=abc"]:
            st, _, err = get(a, "/api/v1/flows/top?" + bad)
            check(st == 400 and is_error(err, 400), f"GET /flows/top?{bad} → 400")

        # Applications: totals per nDPI protocol, and the same names filter /flows.
        st, _, apps = get(a, "/api/v1/apps")
        check(st == 200 and apps["enabled"] and apps["apps"], "GET /apps lists applications", str(apps)[:300])
        ab = [x["bytes"] for x in apps["apps"]]
        check(ab == sorted(ab, reverse=True), "apps come largest first")
        names = {x["name"] for x in apps["apps"]}
        check({"TLS", "HTTP", "DNS"} <= names, f"the demo's TLS, HTTP and DNS are named ({sorted(names)})")
        check(all((x["app_proto"] is None) == (x["name"] == "Unknown") for x in apps["apps"]),
              "every app but Unknown has its EVE app_proto")
        st, _, by_pk = get(a, "/api/v1/apps?sort=packets")
        pk = [x["packets"] for x in by_pk["apps"]]
        check(st == 200 and pk == sorted(pk, reverse=True), "sort=packets orders by packets")
        status = get(a, "/api/v1/status")[2]
        total_pk = sum(w["packets"] for w in status["workers"])
        check(sum(pk) <= total_pk, f"app packets ({sum(pk)}) never exceed the packets seen ({total_pk})")
        st, _, err = get(a, "/api/v1/apps?sort=names")
        check(st == 400 and is_error(err, 400), "GET /apps?sort=names → 400")
        for name, field in [("DNS", "ndpi"), ("dns", "app_proto")]:
            rows = get(a, f"/api/v1/flows?app={name}&limit=1000")[2]["flows"]
            ok = rows and all(f.get("app_proto") == "dns" or f.get("ndpi", {}).get("protocol", "").split(".")[0] == "DNS"
                              for f in rows)
            check(ok, f"app={name} lists only DNS flows ({len(rows)})")
            check(all("ndpi" in f and f["ndpi"]["protocol"] for f in rows), "filtered flows carry their ndpi label")

        # Alerts: the demo rules fire on the replay.
        deadline = time.time() + 20
        al = None
        while time.time() < deadline:
            st, _, al = get(a, "/api/v1/alerts?limit=1000")
            if st == 200 and al["alerts"]:
                break
            time.sleep(0.2)
        check(al and al["alerts"], f"GET /alerts lists alerts ({al and al.get('total')})", str(al)[:300])
        evs = al["alerts"]
        check(all(e["event_type"] == "alert" and "signature_id" in e["alert"] for e in evs),
              "alerts are EVE alert events")
        check(al["total"] - al["evicted"] <= 20000 and (al["total"] <= 20000 or al["evicted"] > 0),
              f"the ring holds at most api.alert_history alerts (total {al['total']}, evicted {al['evicted']})")
        ts = [e["timestamp"] for e in evs]
        sid = evs[0]["alert"]["signature_id"]
        only = get(a, f"/api/v1/alerts?sid={sid}&limit=1000")[2]["alerts"]
        check(only and all(e["alert"]["signature_id"] == sid for e in only), f"sid={sid} filters")
        src = evs[0]["src_ip"]
        by_src = get(a, f"/api/v1/alerts?src={urllib.parse.quote(src)}&limit=1000")[2]["alerts"]
        check(by_src and all(e["src_ip"] == src for e in by_src), f"src={src} filters")
        check(get(a, "/api/v1/alerts?dst=203.0.113.250")[2]["alerts"] == [], "dst filter with no match gives []")
        check(get(a, "/api/v1/alerts?since=2500-01-01T00:00:00Z")[2]["alerts"] == [], "since in the future gives []")
        # Pages of 2 follow the cursor without repeating.
        st, _, p1 = get(a, "/api/v1/alerts?limit=2")
        if check(st == 200 and p1["next_cursor"], "a first page of 2 alerts has a cursor"):
            st, _, p2 = get(a, "/api/v1/alerts?limit=2&cursor=" + p1["next_cursor"])
            check(st == 200 and p2["alerts"] and p2["alerts"][0] not in p1["alerts"], "the next page continues")
        for bad in ["sid=abc", "src=nope", "since=tomorrow", "limit=0", "cursor=x"]:
            st, _, err = get(a, "/api/v1/alerts?" + bad)
            check(st == 400 and is_error(err, 400), f"GET /alerts?{bad} → 400")
        # Rules through the API: append, refuse an invalid body whole, replace.
        before = get(a, "/api/v1/rules")[2]
        dns_rule = 'alert udp any any -> any 53 (msg:"API DNS query"; sid:2000001; rev:1;)\n'
        st, _, rep = a.json("POST", "/api/v1/rules", ADMIN, dns_rule)
        check(st == 200 and rep["loaded"] == before["loaded"] + 1 and rep["generation"] > before["generation"],
              f"POST /rules appends a rule ({before['loaded']} → {rep and rep.get('loaded')})", str(rep)[:300])
        deadline, seen_sid = time.time() + 15, []
        while time.time() < deadline and not seen_sid:
            seen_sid = get(a, "/api/v1/alerts?sid=2000001&limit=5")[2]["alerts"]
            time.sleep(0.2)
        check(seen_sid and seen_sid[0]["alert"]["signature"] == "API DNS query",
              "the posted rule alerts on the replay without a restart")
        bad_body = ('alert udp any any -> any 1 (msg:"ok"; sid:2000002;)\n'
                    'alert udp any any -> any 2 (msg:"bad" sid:2000003;)\n'
                    'alert tcp any any -> any 3 (msg:"worse"; content:"x"; byte_test:4,>,1,0,dce; sid:2000004;)\n')
        st, _, err = a.json("POST", "/api/v1/rules", ADMIN, bad_body)
        fails = err["error"].get("details", {}).get("failures", []) if is_error(err, 400) else []
        check(st == 400 and sorted(f["line"] for f in fails) == [2, 3] and all(f["file"] == "request" for f in fails),
              "POST /rules with invalid rules → 400 naming each failed rule's line", str(err)[:400])
        after = get(a, "/api/v1/rules")[2]
        check(after["loaded"] == rep["loaded"] and after["generation"] == rep["generation"],
              "an invalid body applies nothing (not even its good rule)")
        st, _, err = a.req("POST", "/api/v1/rules", ADMIN, dns_rule, {"Content-Type": "application/json"})[:2] + (None,)
        check(st == 415, f"rules sent as application/json → 415 ({st})")
        st, _, rep2 = a.json("PUT", "/api/v1/rules", ADMIN, dns_rule)
        check(st == 200 and rep2["loaded"] == 1, f"PUT /rules replaces the set ({rep2 and rep2.get('loaded')} loaded)")
        st, _, rep3 = a.json("PUT", "/api/v1/rules", ADMIN, "")
        check(st == 200 and rep3["loaded"] == 0, "PUT /rules with an empty body empties the set")
        check(a.json("POST", "/api/v1/rules", VIEWER, dns_rule)[0] == 403, "a viewer may not change rules")

        check(a.json("GET", "/api/v1/flows")[0] == 401, "GET /flows without a token → 401")
        check(get(a, "/api/v1/alerts", ADMIN)[0] == 200, "admin may read /alerts too")
    finally:
        if a:
            a.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print(f"FAIL: {len(failures)} checks failed: {failures}")
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    sys.exit(main())
