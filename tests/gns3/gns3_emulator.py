#!/usr/bin/python3
"""A GNS3 server emulator for wirescope's GNS3 capture tests (Debian python3-aiohttp).

It reproduces what a capture client sees of a real GNS3 controller (2.2 and 3.x):

  * v2 HTTP Basic auth: 401 with `WWW-Authenticate: Basic realm="GNS3 server"`.
  * v3 `POST /v3/access/users/authenticate` {"username","password"} answering
    {"access_token": <JWT, HS256>, "token_type": "bearer"}; a missing, bad or
    expired bearer token is a 401 with `WWW-Authenticate: Bearer`. The v3
    notification WebSocket takes the token as `?token=`.
  * GET /v2|v3/version, /projects, /projects/{id}, /projects/{id}/nodes,
    /projects/{id}/links (the controller's link JSON: link_id, nodes[{node_id,
    adapter_number, port_number, label}], capturing, capture_file_name, ...).
  * v2 start_capture/stop_capture (201 with the link), v3 capture/start (201
    with the link) and capture/stop (204).
  * The pcap stream (v2 /pcap, v3 /capture/stream): 409 "This link has no
    active packet capture" when the link is not capturing; otherwise a chunked
    answer that replays the capture file from its start and then follows it.
    As with uBridge, the file stays EMPTY until the first packet: the pcap
    global header is written together with the first record. The answer ends
    when the capture stops.
  * Notifications WebSocket /v2|v3/projects/{id}/notifications/ws: `ping`
    every --ping-interval seconds and `link.created`, `link.updated` (capture
    start/stop), `link.deleted` as {"action": ..., "event": {...}}.

Control interface for the tests on a second port (it stays up while the API
goes away): POST /_emu/inject, /_emu/links (create), /_emu/links/delete,
/_emu/link_type, /_emu/kill_streams, /_emu/down, /_emu/up, /_emu/config;
GET /_emu/state.

Usage: gns3_emulator.py [--port 0] [--control-port 0] [--user admin]
  [--password secret] [--projects FILE.json] [--token-ttl S] [--ping-interval S]
Prints one line "PORTS <api> <control>" once both listen.
"""

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import socket
import struct
import sys
import time
import uuid

from aiohttp import WSMsgType, web

NS = uuid.UUID("6b5a0e1c-7f3e-4c39-9a49-0c2f4d0b3a11")
SECRET = b"emulator-jwt-secret"
DLT = {"DLT_EN10MB": 1, "DLT_C_HDLC": 104, "DLT_PPP_SERIAL": 50, "DLT_FRELAY": 107, "DLT_ATM_RFC1483": 11}

DEFAULT_PROJECTS = [
    {"name": "Enterprise Lab", "nodes": ["R1", "R2", "SW1"], "links": [["R1", "SW1"], ["R2", "SW1"]]},
    {"name": "Branch Lab", "nodes": ["R3", "R4"], "links": [["R3", "R4"]]},
]


def uid(*parts):
    return str(uuid.uuid5(NS, "/".join(parts)))


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


class Capture:
    """One capture file as uBridge writes it, plus the record offsets (for cuts)."""

    def __init__(self, dlt):
        self.dlt = dlt
        self.data = bytearray()
        self.records = []  # (offset, length) of each record, header included
        self.cond = asyncio.Condition()
        self.stopped = False
        self.written = 0

    async def write(self, frame, ts):
        if not self.data:
            # The global header only comes with the first packet.
            self.data += struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, self.dlt)
        sec = int(ts)
        usec = int((ts - sec) * 1e6)
        off = len(self.data)
        self.data += struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame
        self.records.append((off, len(self.data) - off))
        self.written += 1
        async with self.cond:
            self.cond.notify_all()

    async def stop(self):
        self.stopped = True
        async with self.cond:
            self.cond.notify_all()


class Link:
    def __init__(self, project, link_id, ends):
        self.project = project
        self.link_id = link_id
        self.ends = ends  # [(node_id, adapter, port)]
        self.capture = None
        self.capture_file_name = None
        self.link_type = "ethernet"
        self.forced_dlt = None  # emulator setting: serial links capture as this DLT

    def asdict(self):
        nodes = []
        for node_id, adapter, port in self.ends:
            name = self.project.nodes[node_id]["name"]
            nodes.append({"node_id": node_id, "adapter_number": adapter, "port_number": port,
                          "label": {"text": f"e{adapter}/{port}", "x": 0, "y": 0, "rotation": 0,
                                    "style": "font-size: 10;"},
                          "node_name": name})
        for n in nodes:
            n.pop("node_name")
        capturing = self.capture is not None
        return {
            "link_id": self.link_id,
            "project_id": self.project.project_id,
            "nodes": nodes,
            "capturing": capturing,
            "capture_file_name": self.capture_file_name,
            "capture_file_path": f"/opt/gns3/projects/{self.project.project_id}/project-files/captures/"
                                 f"{self.capture_file_name}" if self.capture_file_name else None,
            "capture_compute_id": "local" if capturing else None,
            "link_type": self.link_type,
            "filters": {},
            "suspend": False,
            "link_style": {},
        }


class Project:
    def __init__(self, spec):
        self.name = spec["name"]
        self.project_id = spec.get("project_id") or uid("project", self.name)
        self.nodes = {}
        by_name = {}
        for n in spec["nodes"]:
            node_id = uid("node", self.name, n)
            self.nodes[node_id] = {"name": n, "node_id": node_id, "node_type": "qemu", "status": "started",
                                   "project_id": self.project_id, "compute_id": "local", "console": 5000,
                                   "console_type": "telnet"}
            by_name[n] = node_id
        self.by_name = by_name
        self.links = {}
        for i, (a, b) in enumerate(spec.get("links", [])):
            self.add_link(uid("link", self.name, str(i), a, b), a, b)

    def add_link(self, link_id, a, b):
        ends = [(self.by_name[a], 0, len(self.links)), (self.by_name[b], 0, len(self.links) + 1)]
        link = Link(self, link_id, ends)
        self.links[link_id] = link
        return link

    def asdict(self):
        return {"name": self.name, "project_id": self.project_id, "status": "opened",
                "filename": self.name + ".gns3", "path": f"/opt/gns3/projects/{self.project_id}",
                "auto_close": True, "auto_open": False, "auto_start": False, "scene_height": 1000,
                "scene_width": 2000}


class Emulator:
    def __init__(self, args):
        self.args = args
        specs = DEFAULT_PROJECTS
        if args.projects:
            with open(args.projects) as f:
                specs = json.load(f)
        self.projects = {}
        for s in specs:
            p = Project(s)
            self.projects[p.project_id] = p
        self.down = False
        self.cut_mid = False
        self.chunk = args.chunk
        self.streams = set()  # (transport, capture) of open pcap answers
        self.ws = {}  # project_id -> set of WebSocketResponse
        self.counters = {k: 0 for k in [
            "auth_ok", "auth_fail", "tokens_issued", "token_rejected", "start_capture", "stop_capture",
            "stream_opened", "stream_409", "streams_killed", "ws_opened", "dropped_not_capturing"]}
        self.api_runner = None
        self.api_site = None
        self.api_port = args.port

    # --- auth ---------------------------------------------------------
    def token(self, user):
        header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = b64url(json.dumps({"sub": user, "exp": int(time.time() + self.args.token_ttl)}).encode())
        sig = b64url(hmac.new(SECRET, f"{header}.{payload}".encode(), hashlib.sha256).digest())
        self.counters["tokens_issued"] += 1
        return f"{header}.{payload}.{sig}"

    def token_ok(self, tok):
        try:
            header, payload, sig = tok.split(".")
            good = b64url(hmac.new(SECRET, f"{header}.{payload}".encode(), hashlib.sha256).digest())
            if not hmac.compare_digest(good, sig):
                return False
            body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            return body["exp"] > time.time()
        except (ValueError, KeyError):
            return False

    def check_auth(self, request):
        """None when allowed, else the 401 answer."""
        path = request.path
        if path.startswith("/v3/"):
            if path in ("/v3/version", "/v3/access/users/authenticate"):
                return None
            auth = request.headers.get("Authorization", "")
            tok = auth[7:] if auth.startswith("Bearer ") else request.query.get("token", "")
            if tok and self.token_ok(tok):
                self.counters["auth_ok"] += 1
                return None
            self.counters["token_rejected"] += 1
            return web.json_response({"detail": "Could not validate credentials"}, status=401,
                                     headers={"WWW-Authenticate": "Bearer"})
        if not self.args.user:
            return None
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            try:
                user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
                if user == self.args.user and pw == self.args.password:
                    self.counters["auth_ok"] += 1
                    return None
            except ValueError:
                pass
        self.counters["auth_fail"] += 1
        return web.Response(status=401, text="401: Unauthorized",
                            headers={"WWW-Authenticate": 'Basic realm="GNS3 server"'})

    @web.middleware
    async def auth_mw(self, request, handler):
        denied = self.check_auth(request)
        if denied is not None:
            return denied
        return await handler(request)

    # --- helpers --------------------------------------------------------
    def project(self, request):
        p = self.projects.get(request.match_info["project_id"])
        if p is None:
            raise web.HTTPNotFound(text=json.dumps({"message": "Project ID %s doesn't exist" %
                                                    request.match_info["project_id"], "status": 404}),
                                   content_type="application/json")
        return p

    def link(self, request):
        p = self.project(request)
        link = p.links.get(request.match_info["link_id"])
        if link is None:
            raise web.HTTPNotFound(text=json.dumps({"message": "Link ID %s doesn't exist" %
                                                    request.match_info["link_id"], "status": 404}),
                                   content_type="application/json")
        return link

    async def notify(self, project_id, action, event):
        for ws in list(self.ws.get(project_id, ())):
            try:
                await ws.send_str(json.dumps({"action": action, "event": event}))
            except (ConnectionError, RuntimeError):
                self.ws[project_id].discard(ws)

    # --- API ------------------------------------------------------------
    async def version(self, request):
        v = "3.0.5" if request.path.startswith("/v3/") else "2.2.54"
        return web.json_response({"local": False, "version": v, "controller_host": "127.0.0.1"})

    async def authenticate(self, request):
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"detail": "invalid JSON"}, status=422)
        if body.get("username") == self.args.user and body.get("password") == self.args.password:
            return web.json_response({"access_token": self.token(body["username"]), "token_type": "bearer"})
        self.counters["auth_fail"] += 1
        return web.json_response({"detail": "Authentication was unsuccessful."}, status=401,
                                 headers={"WWW-Authenticate": "Bearer"})

    async def projects_list(self, request):
        return web.json_response([p.asdict() for p in self.projects.values()])

    async def project_get(self, request):
        return web.json_response(self.project(request).asdict())

    async def nodes(self, request):
        return web.json_response(list(self.project(request).nodes.values()))

    async def links(self, request):
        return web.json_response([l.asdict() for l in self.project(request).links.values()])

    async def start_capture(self, request):
        link = self.link(request)
        try:
            body = await request.json()
        except ValueError:
            body = {}
        dlt_name = body.get("data_link_type", "DLT_EN10MB")
        if dlt_name not in DLT:
            return web.json_response({"message": f"Unknown data link type {dlt_name}", "status": 400}, status=400)
        self.counters["start_capture"] += 1
        if link.capture is None:
            dlt = link.forced_dlt if link.forced_dlt is not None else DLT[dlt_name]
            link.capture = Capture(dlt)
            a, b = (link.project.nodes[e[0]]["name"] for e in link.ends)
            link.capture_file_name = body.get("capture_file_name") or f"{a}_Ethernet0-{b}_Ethernet0.pcap"
            await self.notify(link.project.project_id, "link.updated", link.asdict())
        return web.json_response(link.asdict(), status=201)

    async def stop_capture(self, request):
        link = self.link(request)
        self.counters["stop_capture"] += 1
        if link.capture is not None:
            cap, link.capture = link.capture, None
            await cap.stop()
            await self.notify(link.project.project_id, "link.updated", link.asdict())
        if request.path.startswith("/v3/"):
            return web.Response(status=204)
        return web.json_response(link.asdict(), status=201)

    async def pcap(self, request):
        link = self.link(request)
        cap = link.capture
        if cap is None:
            self.counters["stream_409"] += 1
            return web.json_response({"message": "This link has no active packet capture", "status": 409},
                                     status=409)
        self.counters["stream_opened"] += 1
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/vnd.tcpdump.pcap"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        entry = (request.transport, cap)
        self.streams.add(entry)
        pos = 0
        try:
            while True:
                if pos < len(cap.data):
                    end = min(len(cap.data), pos + self.chunk)
                    if self.cut_mid:
                        cut = next((o + n // 2 for o, n in cap.records if o + n // 2 > pos), None)
                        if cut is not None and cut <= len(cap.data):
                            # Half of a record, then the connection drops.
                            self.cut_mid = False
                            await resp.write(bytes(cap.data[pos:cut]))
                            await asyncio.sleep(0.05)
                            request.transport.abort()
                            self.counters["streams_killed"] += 1
                            break
                    await resp.write(bytes(cap.data[pos:end]))
                    pos = end
                    continue
                if cap.stopped:
                    break
                async with cap.cond:
                    if pos >= len(cap.data) and not cap.stopped:
                        await cap.cond.wait()
            await resp.write_eof()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self.streams.discard(entry)
        return resp

    async def notifications(self, request):
        p = self.project(request)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.counters["ws_opened"] += 1
        self.ws.setdefault(p.project_id, set()).add(ws)

        async def pinger():
            while not ws.closed:
                await ws.send_str(json.dumps({"action": "ping", "event": {
                    "cpu_usage_percent": 3.5, "memory_usage_percent": 21.0}}))
                await asyncio.sleep(self.args.ping_interval)

        task = asyncio.ensure_future(pinger())
        try:
            async for msg in ws:
                if msg.type == WSMsgType.ERROR:
                    break
        finally:
            task.cancel()
            self.ws[p.project_id].discard(ws)
        return ws

    def api_app(self):
        app = web.Application(middlewares=[self.auth_mw])
        r = app.router
        for v in ("v2", "v3"):
            r.add_get(f"/{v}/version", self.version)
            r.add_get(f"/{v}/projects", self.projects_list)
            r.add_get(f"/{v}/projects/{{project_id}}", self.project_get)
            r.add_get(f"/{v}/projects/{{project_id}}/nodes", self.nodes)
            r.add_get(f"/{v}/projects/{{project_id}}/links", self.links)
            r.add_get(f"/{v}/projects/{{project_id}}/notifications/ws", self.notifications)
        r.add_post("/v3/access/users/authenticate", self.authenticate)
        r.add_post("/v2/projects/{project_id}/links/{link_id}/start_capture", self.start_capture)
        r.add_post("/v2/projects/{project_id}/links/{link_id}/stop_capture", self.stop_capture)
        r.add_get("/v2/projects/{project_id}/links/{link_id}/pcap", self.pcap)
        r.add_post("/v3/projects/{project_id}/links/{link_id}/capture/start", self.start_capture)
        r.add_post("/v3/projects/{project_id}/links/{link_id}/capture/stop", self.stop_capture)
        r.add_get("/v3/projects/{project_id}/links/{link_id}/capture/stream", self.pcap)
        return app

    # --- control --------------------------------------------------------
    def find_link(self, body):
        p = self.projects[body["project_id"]]
        return p, p.links[body["link_id"]]

    async def c_inject(self, request):
        """{"project_id","link_id", "frames": [hex], "pcap": path, "generate": {"count","size","seq0"}}"""
        body = await request.json()
        _, link = self.find_link(body)
        frames = [bytes.fromhex(h) for h in body.get("frames", [])]
        if "pcap" in body:
            with open(body["pcap"], "rb") as f:
                raw = f.read()
            magic = struct.unpack("<I", raw[:4])[0]
            end = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
            off = 24
            while off + 16 <= len(raw):
                _, _, incl, _ = struct.unpack(end + "IIII", raw[off:off + 16])
                frames.append(raw[off + 16:off + 16 + incl])
                off += 16 + incl
        g = body.get("generate")
        if g:
            src = bytes(int(x) for x in g.get("src", "10.0.0.1").split("."))
            dst = bytes(int(x) for x in g.get("dst", "10.0.0.2").split("."))
            for i in range(g["count"]):
                frames.append(udp_frame(src, dst, g.get("sport", 40000), g.get("dport", 9000),
                                        g.get("seq0", 0) + i, g.get("size", 100)))
        if link.capture is None:
            self.counters["dropped_not_capturing"] += len(frames)
            return web.json_response({"written": 0, "dropped": len(frames)})
        now = time.time()
        for fr in frames:
            await link.capture.write(fr, now)
        return web.json_response({"written": len(frames), "dropped": 0})

    async def c_link_create(self, request):
        body = await request.json()
        p = self.projects[body["project_id"]]
        link = p.add_link(body.get("link_id") or str(uuid.uuid4()), body["a"], body["b"])
        await self.notify(p.project_id, "link.created", link.asdict())
        return web.json_response(link.asdict(), status=201)

    async def c_link_delete(self, request):
        body = await request.json()
        p, link = self.find_link(body)
        if link.capture is not None:
            cap, link.capture = link.capture, None
            await cap.stop()
        del p.links[link.link_id]
        await self.notify(p.project_id, "link.deleted", link.asdict())
        return web.json_response({"deleted": link.link_id})

    async def c_link_type(self, request):
        body = await request.json()
        _, link = self.find_link(body)
        link.link_type = body.get("link_type", "serial")
        link.forced_dlt = DLT[body["dlt"]] if isinstance(body["dlt"], str) else int(body["dlt"])
        return web.json_response(link.asdict())

    async def c_kill(self, request):
        """Aborts every pcap answer now, or with {"mid_record": true} the next
        answer to send data sends half of a record and then drops (the file
        keeps the whole record, so a client that reconnects gets it again)."""
        body = await request.json() if request.can_read_body else {}
        if body.get("mid_record"):
            self.cut_mid = True
            return web.json_response({"armed": True})
        n = 0
        for transport, _ in list(self.streams):
            transport.abort()
            n += 1
        self.streams.clear()
        self.counters["streams_killed"] += n
        return web.json_response({"killed": n})

    async def c_down(self, request):
        """The server goes away: every connection is cut and the port refuses.
        With {"reset": true}, it comes back like a restarted server: no capture runs."""
        body = await request.json() if request.can_read_body else {}
        await self.go_down(body.get("reset", False))
        return web.json_response({"down": True})

    async def go_down(self, reset):
        self.down = True
        for transport, _ in list(self.streams):
            transport.abort()
        self.streams.clear()
        for s in list(self.ws.values()):
            for ws in list(s):
                await ws.close()
        if self.api_runner:
            await self.api_runner.cleanup()
            self.api_runner = None
        if reset:
            for p in self.projects.values():
                for link in p.links.values():
                    if link.capture is not None:
                        await link.capture.stop()
                    link.capture = None
                    link.capture_file_name = None

    async def c_up(self, request):
        await self.start_api()
        return web.json_response({"down": False, "port": self.api_port})

    async def c_config(self, request):
        body = await request.json()
        if "chunk" in body:
            self.chunk = max(1, int(body["chunk"]))
        if "token_ttl" in body:
            self.args.token_ttl = float(body["token_ttl"])
        return web.json_response({"chunk": self.chunk, "token_ttl": self.args.token_ttl})

    async def c_state(self, request):
        projects = []
        for p in self.projects.values():
            links = []
            for l in p.links.values():
                links.append({"link_id": l.link_id, "capturing": l.capture is not None,
                              "written": l.capture.written if l.capture else 0,
                              "nodes": [p.nodes[e[0]]["name"] for e in l.ends]})
            projects.append({"name": p.name, "project_id": p.project_id, "links": links})
        return web.json_response({"down": self.down, "api_port": self.api_port, "projects": projects,
                                  "counters": self.counters, "open_streams": len(self.streams)})

    def control_app(self):
        app = web.Application()
        r = app.router
        r.add_post("/_emu/inject", self.c_inject)
        r.add_post("/_emu/links", self.c_link_create)
        r.add_post("/_emu/links/delete", self.c_link_delete)
        r.add_post("/_emu/link_type", self.c_link_type)
        r.add_post("/_emu/kill_streams", self.c_kill)
        r.add_post("/_emu/down", self.c_down)
        r.add_post("/_emu/up", self.c_up)
        r.add_post("/_emu/config", self.c_config)
        r.add_get("/_emu/state", self.c_state)
        return app

    async def start_api(self):
        if self.api_runner is not None:
            return
        runner = web.AppRunner(self.api_app(), handle_signals=False)
        await runner.setup()
        # The listening socket is made here so port 0 gets a port and a
        # restart gets the same one back.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.api_port))
        self.api_port = sock.getsockname()[1]
        site = web.SockSite(runner, sock)
        await site.start()
        self.api_runner = runner
        self.down = False


def udp_frame(src, dst, sport, dport, seq, size):
    payload = struct.pack(">Q", seq) + bytes(max(0, size - 42 - 8))
    udp = struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), seq & 0xFFFF, 0, 64, 17, 0, src, dst)
    s = sum(struct.unpack(">10H", ip))
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    ip = ip[:10] + struct.pack(">H", ~s & 0xFFFF) + ip[12:]
    eth = bytes.fromhex("0200000000020200000000010800")
    return eth + ip + udp


async def main(args):
    emu = Emulator(args)
    await emu.start_api()
    ctl = web.AppRunner(emu.control_app(), handle_signals=False)
    await ctl.setup()
    site = web.TCPSite(ctl, "127.0.0.1", args.control_port)
    await site.start()
    ctl_port = site._server.sockets[0].getsockname()[1]
    print(f"PORTS {emu.api_port} {ctl_port}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--control-port", type=int, default=0)
    ap.add_argument("--user", default="admin")
    ap.add_argument("--password", default="secret")
    ap.add_argument("--projects", help="JSON list of {name, nodes: [names], links: [[a, b]]}")
    ap.add_argument("--token-ttl", type=float, default=1440 * 60)
    ap.add_argument("--ping-interval", type=float, default=5.0)
    ap.add_argument("--chunk", type=int, default=4096, help="bytes per chunk of the pcap stream")
    try:
        asyncio.run(main(ap.parse_args()))
    except KeyboardInterrupt:
        sys.exit(0)
