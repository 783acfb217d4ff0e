// The web dashboard in headless Chromium (Debian's /usr/bin/chromium,
// driven by playwright-core from tests/web/node_modules), against the real
// agent replaying the demo capture in a loop with the demo rules.
//
// Checks: before sign-in the page shows the sign-in form and nothing else,
// and asks the agent for no data (no data route, no WebSocket); a wrong
// token gets a clear message; with a viewer token the packets/s figure
// moves, an alert of a demo rule appears in the feed, top talkers, top
// flows and applications fill; every request stays on the agent's origin
// and the page logs no error (its CSP included); when the agent is killed
// the page says it is reconnecting, with the attempt count and the
// backoff, and once the agent is back on the same port the figures move
// again by themselves. With api.anonymous_view the page shows data without
// a token. GNS3 projects: an agent capturing the links of the GNS3 server
// emulator (tests/gns3/gns3_emulator.py, needs python3-aiohttp) lists both
// projects and shows traffic on the one that gets frames. QoS: the page
// draws per-colour rates from qos frames put into its stream (an agent has
// traffic control only inline, between network interfaces). A screenshot
// goes to OUTDIR/dashboard.png.
//
// usage: node dashboard.mjs WIRESCOPE DEMO_PCAP DEMO_RULES OUTDIR [GNS3_EMULATOR]
// Exit status: 0 pass, 1 fail, 77 skip (no chromium or playwright-core).

import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const CHROMIUM = "/usr/bin/chromium";
const VIEWER = "viewer-secret-token";
const ADMIN = "admin-secret-token";
const DEMO_SIDS = new Set(["1000001", "1000002", "1000003", "1000004", "1000005"]);

let passed = 0;
const failures = [];
function check(cond, what, detail = "") {
  console.log((cond ? "  ok   " : "  FAIL ") + what + (cond || !detail ? "" : "\n      " + detail));
  if (cond) passed++;
  else failures.push(what);
  return !!cond;
}

const [wirescope, pcap, rules, outdir, emulator] = process.argv.slice(2).map((a) => a && path.resolve(a));
if (!outdir) {
  console.error("usage: node dashboard.mjs WIRESCOPE DEMO_PCAP DEMO_RULES OUTDIR");
  process.exit(2);
}
if (!fs.existsSync(CHROMIUM)) {
  console.log(`SKIP: ${CHROMIUM} is not installed (apt-get install --no-install-recommends chromium)`);
  process.exit(77);
}
let chromium;
try {
  ({ chromium } = await import("playwright-core"));
} catch (e) {
  console.log("SKIP: playwright-core is not installed in tests/web (cd tests/web && npm ci): " + e.message);
  process.exit(77);
}
try {
  fs.accessSync(wirescope, fs.constants.X_OK);
} catch {
  console.log(`SKIP: ${wirescope} is not built`);
  process.exit(77);
}

const sha = (s) => createHash("sha256").update(s).digest("hex");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function waitFor(fn, timeoutMs, stepMs = 100) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() >= end) return v;
    await sleep(stepMs);
  }
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ws-web-"));

function writeConfig(name, extra) {
  const file = path.join(tmp, name);
  fs.writeFileSync(
    file,
    "api:\n" +
      "  tokens:\n" +
      `    - {name: ops, role: admin, token_sha256: "${sha(ADMIN)}"}\n` +
      `    - {name: dash, role: viewer, token_sha256: "${sha(VIEWER)}"}\n` +
      extra,
  );
  return file;
}

// The agent on the looping demo replay; resolves once it logs its API
// address.
class Agent {
  constructor(cfg, listen, tag, input = ["-r", pcap, "--loop", "--replay-speed", "20", "-S", rules]) {
    this.log = "";
    this.tag = tag;
    const logdir = fs.mkdtempSync(path.join(tmp, "log-"));
    this.p = spawn(wirescope, ["-c", cfg, ...input, "--api", listen, "--workers", "1", "-l", logdir],
                   { stdio: ["ignore", "ignore", "pipe"] });
    this.p.stderr.on("data", (d) => (this.log += d.toString()));
    this.exited = new Promise((r) => this.p.on("exit", (code, sig) => r({ code, sig })));
  }
  async ready() {
    const m = await waitFor(async () => /api listening on ([0-9.]+):(\d+)/.exec(this.log), 20000, 50);
    if (!m) throw new Error(`agent ${this.tag} did not log its API address:\n${this.log}`);
    this.port = Number(m[2]);
    return this;
  }
  async stop(signal = "SIGTERM") {
    if (this.p.exitCode === null && this.p.signalCode === null) this.p.kill(signal);
    const r = await Promise.race([this.exited, sleep(10000).then(() => null)]);
    if (!r) {
      this.p.kill("SIGKILL");
      await this.exited;
    }
  }
}

const agents = [];
let context;
let code = 1;
try {
  const cfg = writeConfig("agent.yaml", "");
  let agent = await new Agent(cfg, "127.0.0.1:0", "main").ready();
  agents.push(agent);
  const origin = `http://127.0.0.1:${agent.port}`;

  context = await chromium.launchPersistentContext(path.join(tmp, "profile"), {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 1100 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const page = context.pages()[0] || (await context.newPage());
  const requests = [];
  const sockets = [];
  const problems = [];
  page.on("request", (r) => requests.push(r.url()));
  page.on("websocket", (w) => sockets.push(w.url()));
  page.on("pageerror", (e) => problems.push("page error: " + e.message));
  page.on("console", (m) => {
    // A refused or dropped WebSocket is logged by Chromium itself while the
    // agent is down; that is the reconnect at work, not a page error.
    if (m.type() === "error" && !/WebSocket connection|ERR_CONNECTION_REFUSED|Failed to load resource/.test(m.text()))
      problems.push("console: " + m.text());
  });

  // --- before sign-in: the form, nothing else, no data asked for --------------
  await page.goto(origin + "/");
  await page.waitForSelector("#signin:not([hidden])", { timeout: 10000 });
  await sleep(1500);
  check(await page.isHidden("#dash"), "before sign-in the dashboard is hidden");
  check(await page.isVisible("#token"), "before sign-in the page asks for a token");
  const dataRequests = requests.filter((u) => u.startsWith(origin + "/api/") && !u.startsWith(origin + "/api/v1/dashboard"));
  check(dataRequests.length === 0 && sockets.length === 0, "before sign-in no data route and no stream is asked for",
        JSON.stringify({ dataRequests, sockets }));
  check(requests.some((u) => u === origin + "/api/v1/dashboard"), "the page asked the open /api/v1/dashboard first");

  // --- a wrong token --------------------------------------------------------------
  await page.fill("#token", "not-the-token");
  await page.click("#signin-button");
  const wrong = await waitFor(async () => (await page.textContent("#signin-error")) || "", 5000);
  check(/did not accept this token/.test(wrong) && (await page.isHidden("#dash")),
        "a wrong token is refused with a clear message and shows no data", wrong);
  check(sockets.length === 0, "a wrong token opens no stream");

  // --- signed in: live figures ----------------------------------------------------------
  await page.fill("#token", VIEWER);
  await page.click("#signin-button");
  await page.waitForSelector("#dash:not([hidden])", { timeout: 10000 });
  check(await page.isHidden("#signin"), "signed in: the form is gone");
  check(await page.evaluate(() => sessionStorage.getItem("wirescope.token")) === VIEWER,
        "the token is kept in sessionStorage");

  const ppsValue = async () => {
    const v = await page.getAttribute("#pps", "data-value");
    return v === null ? null : Number(v);
  };
  async function ppsMoves(label) {
    const seen = new Set();
    await waitFor(async () => {
      const v = await ppsValue();
      if (v !== null && v > 0) seen.add(v);
      return seen.size >= 3;
    }, 15000, 300);
    return check(seen.size >= 3, `${label}: packets/s changes during the replay (${[...seen].slice(0, 5).join(", ")})`);
  }
  await ppsMoves("signed in");
  const bps = await page.getAttribute("#bps", "data-value");
  check(Number(bps) > 0 && /bit\/s/.test(await page.textContent("#bps")), `bits/s is shown (${await page.textContent("#bps")})`);

  // An alert of a demo rule arrives over the stream (not only from the
  // history the page loads at sign-in).
  const alert = await waitFor(
    () => page.$$eval("#alerts li.fresh", (l) => l.map((x) => ({ sid: x.dataset.sid, text: x.textContent }))).then(
      (l) => l.find((a) => DEMO_SIDS.has(a.sid))),
    30000, 250);
  check(alert, "an alert of a demo rule appears in the feed over the stream", JSON.stringify(alert));
  if (alert)
    check(/DEMO/.test(alert.text) && /→/.test(alert.text) && /(high|medium|low)/.test(alert.text),
          "the alert shows its signature, severity and endpoints", alert.text);

  const rows = async (id) => page.$$eval(`#${id} tbody tr`, (l) => l.length);
  const filled = await waitFor(async () => (await rows("hosts")) > 0 && (await rows("flows")) > 0 && (await rows("apps")) > 0,
                               15000, 250);
  check(filled, `top talkers (${await rows("hosts")}), top flows (${await rows("flows")}) and applications (${await rows("apps")}) fill`);
  const apps = await page.$$eval("#apps tbody tr td:first-child", (l) => l.map((x) => x.textContent));
  check(apps.some((a) => /DNS|TLS|HTTP|QUIC/.test(a)), "applications are nDPI names", apps.join(", "));
  check((await rows("sources")) > 0 && (await page.getAttribute("#drops", "data-value")) !== null,
        "the capture source and its drops are shown");
  check(/No traffic control/.test(await page.textContent('.empty[data-for="qos"]')) &&
          (await page.isVisible('.empty[data-for="qos"]')),
        "QoS says this agent has no traffic control");
  check(await page.isVisible('.empty[data-for="gns3"]'), "GNS3 says this agent has no GNS3 captures");

  fs.mkdirSync(outdir, { recursive: true });
  const shot = path.join(outdir, "dashboard.png");
  await page.screenshot({ path: shot, fullPage: true });
  check(fs.statSync(shot).size > 10000, `screenshot saved: ${shot}`);

  // --- the agent restarts: reconnecting, then live again -------------------------------
  const port = agent.port;
  await agent.stop("SIGKILL");
  const banner = await waitFor(async () => {
    const t = (await page.isVisible("#banner")) ? await page.textContent("#banner") : "";
    return /Reconnecting… attempt [2-9]/.test(t) ? t : "";
  }, 15000, 100);
  check(/Reconnecting… attempt \d+, next try in [\d.]+ s \(backoff [\d.]+ s\)/.test(banner),
        "with the agent gone the page says it is reconnecting, with the attempt and the backoff", banner);
  check((await page.textContent("#conn")) === "reconnecting", "the connection badge says reconnecting");
  check(await page.isVisible("#dash"), "the last figures stay on screen while reconnecting");

  agent = await new Agent(cfg, `127.0.0.1:${port}`, "restarted").ready();
  agents.push(agent);
  const back = await waitFor(async () => (await page.textContent("#conn")) === "live" && (await page.isHidden("#banner")),
                             20000, 200);
  check(back, "the page reconnects to the restarted agent by itself and the banner goes");
  await ppsMoves("after the restart");

  check(requests.every((u) => u.startsWith(origin + "/") || u.startsWith("data:")) &&
          sockets.every((u) => u.startsWith(`ws://127.0.0.1:${port}/api/v1/stream`)),
        "every request stays on the agent's origin", JSON.stringify([...new Set(requests.concat(sockets))]));
  check(problems.length === 0, "the page logged no error", problems.join("\n"));

  // --- api.anonymous_view: data without a token ------------------------------------------
  const anonCfg = writeConfig("anon.yaml", "  anonymous_view: true\n");
  const anon = await new Agent(anonCfg, "127.0.0.1:0", "anonymous").ready();
  agents.push(anon);
  const page2 = await context.newPage();
  const sockets2 = [];
  page2.on("websocket", (w) => sockets2.push(w.url()));
  await page2.goto(`http://127.0.0.1:${anon.port}/`);
  await page2.waitForSelector("#dash:not([hidden])", { timeout: 10000 });
  check(await page2.isHidden("#signin"), "anonymous view: no sign-in form");
  check((await page2.textContent("#who")) === "anonymous view", "anonymous view: the page says so");
  const anonPps = await waitFor(async () => Number(await page2.getAttribute("#pps", "data-value")) > 0, 15000, 300);
  check(anonPps && sockets2.length > 0 && sockets2.every((u) => !u.includes("token=")),
        "anonymous view: live figures over a stream opened without a token", JSON.stringify(sockets2));

  await page2.close();

  // --- QoS: per-colour rates from qos frames ---------------------------------------------
  // The demo agent has no traffic control, so its qos frames say so; the
  // page's stream is routed through playwright, which keeps every other
  // frame and puts two qos samples (Stream::qos_data's shape) in their place.
  const qosSample = (green, yellow, red, drops) => ({
    topic: "qos",
    data: {
      enabled: true, generation: 3, interval_s: 1,
      policies: [{ name: "edge", classes: [
        { name: "voice", policed: true, shaped: false, dscp_rewrites: 0, queued: { frames: 0, bytes: 0 },
          colors: { green: { packets: 10, bytes: 1000, packets_per_s: green / 1000, bits_per_s: green },
                    yellow: { packets: 2, bytes: 200, packets_per_s: yellow / 1000, bits_per_s: yellow },
                    red: { packets: 1, bytes: 100, packets_per_s: red / 1000, bits_per_s: red } },
          drops: { police: 1, queue: 0, total: 1, per_s: drops } },
        { name: "bulk", policed: false, shaped: true, dscp_rewrites: 0, queued: { frames: 3, bytes: 4500 },
          colors: { green: { packets: 5, bytes: 500, packets_per_s: null, bits_per_s: null },
                    yellow: { packets: 0, bytes: 0, packets_per_s: null, bits_per_s: null },
                    red: { packets: 0, bytes: 0, packets_per_s: null, bits_per_s: null } },
          drops: { police: 0, queue: 0, total: 0, per_s: null } }] }],
    },
  });
  const page4 = await context.newPage();
  await page4.routeWebSocket(/\/api\/v1\/stream/, (ws) => {
    const server = ws.connectToServer();
    ws.onMessage((m) => server.send(m));
    server.onMessage((m) => {
      if (!String(m).startsWith('{"topic":"qos"')) ws.send(m);
    });
    setTimeout(() => ws.send(JSON.stringify(qosSample(1.6e6, 250e3, 40e3, 12))), 300);
  });
  await page4.goto(`http://127.0.0.1:${anon.port}/`);
  const qosText = await waitFor(async () => {
    const t = await page4.textContent("#qos");
    return /policy edge/.test(t) ? t : "";
  }, 10000, 200);
  check(/voice/.test(qosText) && /bulk \(shaped\)/.test(qosText) && /1\.60 M \(1\.60 k pkt\/s\)/.test(qosText) &&
          /250 k/.test(qosText) && /40\.0 k/.test(qosText) && (await page4.isHidden('.empty[data-for="qos"]')),
        "QoS: each class of each policy with green, yellow and red rates", qosText);
  await page4.close();

  // --- GNS3 projects from a real agent on the GNS3 server emulator ----------------------
  const aiohttp = spawnSync("/usr/bin/python3", ["-c", "import aiohttp"]).status === 0;
  if (!emulator || !aiohttp) {
    console.log("  skip GNS3 projects: " + (emulator ? "python3-aiohttp is not installed" : "no emulator given"));
  } else {
    const emu = spawn("/usr/bin/python3", [emulator, "--port", "0", "--control-port", "0"], { stdio: ["ignore", "pipe", "pipe"] });
    let emuOut = "";
    emu.stdout.on("data", (d) => (emuOut += d.toString()));
    emu.stderr.on("data", (d) => (emuOut += d.toString()));
    try {
      const ports = await waitFor(async () => /PORTS (\d+) (\d+)/.exec(emuOut), 20000, 50);
      if (!check(ports, "the GNS3 emulator starts", emuOut)) throw new Error("no emulator");
      const ctl = `http://127.0.0.1:${ports[2]}`;
      const emuState = await (await fetch(ctl + "/_emu/state")).json();
      const ent = emuState.projects.find((p) => p.name === "Enterprise Lab");
      const gcfg = writeConfig("gns3.yaml", "  anonymous_view: true\n" +
        "gns3:\n  servers:\n" +
        `    - {name: lab1, url: "http://127.0.0.1:${ports[1]}", api: v2, user: admin, password: secret}\n` +
        "  capture:\n" +
        '    - {server: lab1, project: "Enterprise Lab", links: all}\n' +
        '    - {server: lab1, project: "Branch Lab", links: all}\n');
      const g = await new Agent(gcfg, "127.0.0.1:0", "gns3", []).ready();
      agents.push(g);
      const page3 = await context.newPage();
      await page3.goto(`http://127.0.0.1:${g.port}/`);
      const gns3Rows = () => page3.$$eval("#gns3 tbody tr", (l) => l.map((r) => [...r.children].map((c) => c.textContent)));
      const listed = await waitFor(async () => (await gns3Rows()).length === 2, 20000, 200);
      check(listed && (await gns3Rows()).map((r) => r[1]).sort().join() === "Branch Lab,Enterprise Lab" &&
              (await page3.isHidden('.empty[data-for="gns3"]')),
            "GNS3: both captured projects are listed", JSON.stringify(await gns3Rows()));
      await fetch(ctl + "/_emu/inject", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ project_id: ent.project_id, link_id: ent.links[0].link_id,
                               generate: { count: 300, size: 200, src: "10.1.0.1", dst: "10.1.0.2", sport: 40000, dport: 9000 } }),
      });
      const traffic = await waitFor(async () => {
        const rows = await gns3Rows();
        const e = rows.find((r) => r[1] === "Enterprise Lab"), b = rows.find((r) => r[1] === "Branch Lab");
        return e && b && e[2] === "traffic" && b[2] !== "traffic" ? rows : null;
      }, 15000, 100);
      check(traffic, "GNS3: the project that gets frames shows traffic, the other does not", JSON.stringify(await gns3Rows()));
      await page3.close();
    } finally {
      emu.kill("SIGTERM");
    }
  }
  code = failures.length ? 1 : 0;
} catch (e) {
  console.log("  FAIL " + (e && e.stack ? e.stack : e));
  failures.push(String(e));
  code = 1;
} finally {
  if (context) await context.close().catch(() => {});
  for (const a of agents) await a.stop().catch(() => {});
  if (code === 0) fs.rmSync(tmp, { recursive: true, force: true });
  else for (const a of agents) console.log(`--- agent ${a.tag} log ---\n${a.log.slice(-3000)}`);
}
console.log(`${passed} checks passed, ${failures.length} failed`);
process.exit(code);
