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
// a token. A screenshot goes to OUTDIR/dashboard.png.
//
// usage: node dashboard.mjs WIRESCOPE DEMO_PCAP DEMO_RULES OUTDIR
// Exit status: 0 pass, 1 fail, 77 skip (no chromium or playwright-core).

import { spawn } from "node:child_process";
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

const [wirescope, pcap, rules, outdir] = process.argv.slice(2).map((a) => a && path.resolve(a));
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
  constructor(cfg, listen, tag) {
    this.log = "";
    this.tag = tag;
    const logdir = fs.mkdtempSync(path.join(tmp, "log-"));
    this.p = spawn(
      wirescope,
      ["-c", cfg, "-r", pcap, "--loop", "--replay-speed", "20", "-S", rules, "--api", listen, "--workers", "1", "-l", logdir],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
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

  // The first agent's page, signed in, is unaffected by another tab.
  await page2.close();
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
