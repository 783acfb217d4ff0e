// wirescope dashboard. Plain JavaScript, no library, nothing from another
// origin: the page talks to the agent that served it, over REST (sign-in
// check, recent alerts) and the WebSocket stream (everything live).
//
// Without a token (and without api.anonymous_view) the page makes no data
// request at all: it asks /api/v1/dashboard, which is open, and shows the
// sign-in form. The token lives in sessionStorage, so it goes with the tab.
(function () {
  "use strict";

  var TOKEN_KEY = "wirescope.token";
  var TOPICS = ["stats", "top", "hosts", "apps", "alerts", "qos", "gns3"];
  var HISTORY = 120;       // chart points: two minutes of 1 s stats
  var MAX_ALERTS = 100;    // alerts kept in the feed
  var BACKOFF_MIN_MS = 500;
  var BACKOFF_MAX_MS = 8000;

  var state = {
    info: null,            // GET /api/v1/dashboard
    token: null,           // null: anonymous view
    live: false,           // signed in (or anonymous) and meant to be connected
    ws: null,
    attempt: 0,            // reconnect attempts since the last open
    retryAt: 0,
    retryTimer: null,
    countdown: null,
    opened: false,         // the current socket opened
    history: [],           // {pps, bps}
    alerts: 0,
  };

  function $(id) { return document.getElementById(id); }

  // --- formatting -----------------------------------------------------------

  function si(v, unit) {
    if (v === null || v === undefined || !isFinite(v)) return "–";
    var units = ["", "k", "M", "G", "T"];
    var i = 0;
    while (Math.abs(v) >= 1000 && i < units.length - 1) { v /= 1000; i++; }
    var s = i === 0 ? (Math.abs(v) < 10 && v % 1 ? v.toFixed(1) : Math.round(v).toString()) : v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0);
    return s + (units[i] || unit ? " " : "") + units[i] + (unit || "");
  }
  function bytes(v) {
    if (v === null || v === undefined) return "–";
    var units = ["B", "KiB", "MiB", "GiB", "TiB"];
    var i = 0;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return (i === 0 ? v.toString() : v.toFixed(v < 10 ? 2 : 1)) + " " + units[i];
  }
  function count(v) { return v === null || v === undefined ? "–" : Number(v).toLocaleString("en-US"); }
  function duration(s) {
    s = Math.floor(s);
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
    if (d) return d + "d " + h + "h";
    if (h) return h + "h " + m + "m";
    return m + "m " + (s % 60) + "s";
  }
  function endpoint(ip, port) {
    if (port === undefined || port === null || port === 0) return ip;
    return ip.indexOf(":") >= 0 ? "[" + ip + "]:" + port : ip + ":" + port;
  }

  // --- DOM helpers (textContent only: data never becomes markup) -----------

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }
  function row(cells) {
    var tr = document.createElement("tr");
    cells.forEach(function (c) {
      var td = el("td", c.text !== undefined ? c.text : c, c.cls);
      if (c.title) td.title = c.title;
      tr.appendChild(td);
    });
    return tr;
  }
  function fillTable(id, rows) {
    var body = $(id).querySelector("tbody");
    body.replaceChildren.apply(body, rows);
    $(id).hidden = rows.length === 0;
    showEmpty(id, rows.length === 0);
  }
  function showEmpty(id, empty) {
    var p = document.querySelector('.empty[data-for="' + id + '"]');
    if (p) p.hidden = !empty;
  }
  function setValue(id, text, raw) {
    var e = $(id);
    e.textContent = text;
    if (raw !== undefined) e.dataset.value = String(raw);
  }

  // --- views ------------------------------------------------------------------

  function show(view) {
    $("signin").hidden = view !== "signin";
    $("dash").hidden = view !== "dash";
    $("signout").hidden = view !== "dash" || !state.token;
  }
  function banner(text) {
    var b = $("banner");
    b.hidden = !text;
    b.textContent = text || "";
  }
  function conn(text, cls) {
    var c = $("conn");
    c.textContent = text;
    c.className = "conn " + cls;
  }

  // --- REST -------------------------------------------------------------------

  function authHeaders() {
    return state.token ? { Authorization: "Bearer " + state.token } : {};
  }
  function getJson(path, withAuth) {
    return fetch(path, { headers: withAuth ? authHeaders() : {}, cache: "no-store" }).then(function (r) {
      return r.text().then(function (t) {
        var body = null;
        try { body = t ? JSON.parse(t) : null; } catch (e) { body = null; }
        return { status: r.status, body: body, headers: r.headers };
      });
    });
  }
  function errorMessage(res) {
    return res.body && res.body.error && res.body.error.message ? res.body.error.message : "HTTP " + res.status;
  }

  // --- sign-in ----------------------------------------------------------------

  function signInView(message) {
    stop();
    show("signin");
    conn("signed out", "conn-off");
    $("who").textContent = "";
    $("signin-error").textContent = message || "";
    $("token").value = "";
    $("token").focus();
  }

  // Checks a token against a viewer route, then goes live with it. saved:
  // the token came from sessionStorage (a reload), so an agent that does not
  // answer yet is waited for rather than the token forgotten.
  function signIn(token, saved) {
    $("signin-error").textContent = "";
    $("signin-button").disabled = true;
    state.token = token;
    return getJson("/api/v1/status", true).then(function (res) {
      $("signin-button").disabled = false;
      if (res.status === 200) {
        sessionStorage.setItem(TOKEN_KEY, token);
        start(res.body);
        return;
      }
      state.token = null;
      sessionStorage.removeItem(TOKEN_KEY);
      if (res.status === 401)
        signInView("The agent did not accept this token (" + errorMessage(res) + "). Check it and try again.");
      else if (res.status === 429)
        signInView("Too many attempts: " + errorMessage(res));
      else
        signInView("Sign-in failed: " + errorMessage(res));
    }, function () {
      $("signin-button").disabled = false;
      state.token = null;
      if (saved) {
        bootRetry();
        return;
      }
      signInView("The agent did not answer. Is it running?");
    });
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = null;
    if (state.info && state.info.anonymous_view && !message) {
      start(null);
      return;
    }
    signInView(message);
  }

  // --- live -------------------------------------------------------------------

  function start(status) {
    state.live = true;
    show("dash");
    $("who").textContent = state.token ? "signed in" : "anonymous view";
    if (status) applyStatus(status);
    loadRecentAlerts();
    connect();
  }

  function stop() {
    state.live = false;
    clearTimeout(state.retryTimer);
    clearInterval(state.countdown);
    state.retryTimer = state.countdown = null;
    if (state.ws) {
      state.ws.onclose = state.ws.onmessage = state.ws.onerror = null;
      state.ws.close();
      state.ws = null;
    }
    banner("");
  }

  function streamUrl() {
    var proto = location.protocol === "https:" ? "wss:" : "ws:";
    var path = (state.info && state.info.stream) || "/api/v1/stream";
    return proto + "//" + location.host + path + (state.token ? "?token=" + encodeURIComponent(state.token) : "");
  }

  function connect() {
    if (!state.live) return;
    state.opened = false;
    var ws;
    try {
      ws = new WebSocket(streamUrl());
    } catch (e) {
      retry();
      return;
    }
    state.ws = ws;
    ws.onopen = function () {
      state.opened = true;
      state.attempt = 0;
      clearInterval(state.countdown);
      banner("");
      conn("live", "conn-live");
      ws.send(JSON.stringify({ subscribe: TOPICS }));
    };
    ws.onmessage = function (ev) {
      var m;
      try { m = JSON.parse(ev.data); } catch (e) { return; }
      var h = handlers[m.topic];
      if (h) h(m.data);
    };
    ws.onclose = function () {
      state.ws = null;
      if (!state.live) return;
      if (!state.opened) {
        // Refused before it opened: the agent is down, or no longer takes
        // the token (a browser cannot see the upgrade's status). A REST
        // call tells which.
        getJson("/api/v1/status", true).then(function (res) {
          if (res.status === 401) signOut("The agent no longer accepts this token (" + errorMessage(res) + "). Sign in again.");
          else retry();
        }, retry);
        return;
      }
      retry();
    };
  }

  // Exponential backoff with a little jitter, so that many tabs do not all
  // knock at once when an agent comes back.
  function retry() {
    if (!state.live) return;
    state.attempt++;
    var delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * Math.pow(2, state.attempt - 1));
    delay = Math.round(delay * (0.9 + Math.random() * 0.2));
    state.retryAt = Date.now() + delay;
    conn("reconnecting", "conn-retry");
    var tick = function () {
      var left = Math.max(0, state.retryAt - Date.now()) / 1000;
      banner("Reconnecting… attempt " + state.attempt + ", next try in " + left.toFixed(1) +
             " s (backoff " + (delay / 1000).toFixed(1) + " s). The agent's stream closed; the figures below are from before.");
    };
    tick();
    clearInterval(state.countdown);
    state.countdown = setInterval(tick, 250);
    clearTimeout(state.retryTimer);
    state.retryTimer = setTimeout(connect, delay);
  }

  function loadRecentAlerts() {
    getJson("/api/v1/alerts?limit=20", true).then(function (res) {
      if (res.status !== 200 || !res.body || !res.body.alerts) return;
      var list = res.body.alerts.slice().reverse();  // newest first from the agent; the feed prepends
      list.forEach(function (a) { addAlert(a, false); });
    }, function () {});
  }

  // --- topics -----------------------------------------------------------------

  function applyStatus(d) {
    if (d.version) $("version").textContent = "v" + d.version;
    if (d.uptime_s !== undefined) setValue("uptime", duration(d.uptime_s), d.uptime_s);
  }

  var handlers = {
    stats: function (d) {
      applyStatus(d);
      var r = d.rates || {};
      setValue("pps", si(r.packets_per_s), r.packets_per_s);
      setValue("bps", si(r.bits_per_s, "bit/s"), r.bits_per_s);
      setValue("drops", count(d.drops), d.drops);
      $("drops-rate").textContent = r.drops_per_s ? si(r.drops_per_s) + " /s" : "";
      if (d.flow_table) {
        setValue("flows-active", count(d.flow_table.active), d.flow_table.active);
        $("flow-fill").textContent = d.flow_table.capacity ? (100 * d.flow_table.fill).toFixed(1) + "% of table" : "";
      }
      if (d.alerts_exported !== undefined) $("alert-total").textContent = count(d.alerts_exported) + " since start";
      if (r.interval_s > 0) {
        state.history.push({ pps: r.packets_per_s || 0, bps: r.bits_per_s || 0 });
        if (state.history.length > HISTORY) state.history.shift();
        drawCharts();
      }
      fillTable("sources", (d.sources || []).map(function (s) {
        return row([s.name, { text: count(s.packets), cls: "num" }, { text: count(s.drops.kernel), cls: "num" },
                    { text: count(s.drops.interface), cls: "num" }]);
      }));
    },
    top: function (d) {
      fillTable("flows", (d.flows || []).map(function (f) {
        var app = f.app_proto || (f.ndpi && f.ndpi.protocol) || "";
        return row([endpoint(f.src_ip, f.src_port), endpoint(f.dest_ip, f.dest_port), f.proto, app,
                    { text: bytes(f.bytes_toserver + f.bytes_toclient), cls: "num" },
                    { text: count(f.pkts_toserver + f.pkts_toclient), cls: "num" }]);
      }));
    },
    hosts: function (d) {
      fillTable("hosts", (d.hosts || []).map(function (h) {
        return row([h.ip, { text: bytes(h.bytes), cls: "num" }, { text: count(h.packets), cls: "num" },
                    { text: count(h.flows), cls: "num" }]);
      }));
    },
    apps: function (d) {
      var rows = (d.apps || []).slice(0, 12).map(function (a) {
        return row([{ text: a.name, title: a.app_proto || "" }, { text: si(a.bits_per_s, "bit/s"), cls: "num" },
                    { text: bytes(a.bytes), cls: "num" }, { text: count(a.flows), cls: "num" }]);
      });
      fillTable("apps", rows);
      if (!d.enabled) {
        var p = document.querySelector('.empty[data-for="apps"]');
        p.textContent = "nDPI classification is off on this agent.";
        p.hidden = false;
      }
    },
    alerts: function (a) { addAlert(a, true); },
    qos: function (d) { renderQos(d); },
    gns3: function (d) {
      fillTable("gns3", (d.projects || []).map(function (p) {
        var status = p.error ? "error: " + p.error : p.has_traffic ? "traffic" : p.capture ? "idle" : "not captured";
        var cls = p.error ? "status-error" : p.has_traffic ? "status-traffic" : "status-idle";
        return row([p.server, p.name, { text: status, cls: cls },
                    { text: p.links_capturing + "/" + p.links, cls: "num" }, { text: si(p.pps), cls: "num" },
                    { text: si(p.bps, "bit/s"), cls: "num" }, { text: count(p.active_flows), cls: "num" },
                    { text: count(p.alerts), cls: "num" }]);
      }));
    },
    drops: function (d) {
      $("stream-drops").textContent = "This page fell behind: the agent dropped " + count(d.total) + " stream frames for it.";
    },
    error: function (d) {
      $("stream-drops").textContent = "Stream: " + (d && d.message ? d.message : "error");
    },
  };

  function addAlert(a, fresh) {
    if (!a || !a.alert) return;
    var feed = $("alerts");
    var li = el("li", null, fresh ? "fresh" : "");
    var t = a.timestamp ? a.timestamp.substr(11, 8) : "";
    var sev = a.alert.severity || 3;
    li.appendChild(el("span", t, "time"));
    li.appendChild(el("span", sev === 1 ? "high" : sev === 2 ? "medium" : "low", "sev sev-" + sev));
    var sig = el("span", a.alert.signature || "(no message)", "sig");
    sig.title = "sid " + a.alert.signature_id + (a.alert.category ? " · " + a.alert.category : "");
    li.appendChild(sig);
    li.appendChild(el("span", endpoint(a.src_ip, a.src_port) + " → " + endpoint(a.dest_ip, a.dest_port) +
                              (a.proto ? " " + a.proto : ""), "ends"));
    li.dataset.sid = String(a.alert.signature_id);
    feed.insertBefore(li, feed.firstChild);
    while (feed.children.length > MAX_ALERTS) feed.removeChild(feed.lastChild);
    state.alerts++;
    setValue("alert-count", count(state.alerts), state.alerts);
    showEmpty("alerts", false);
  }

  function renderQos(d) {
    var box = $("qos");
    var parts = [];
    (d.policies || []).forEach(function (p) {
      var div = el("div", null, "qos-policy");
      div.appendChild(el("h3", "policy " + p.name));
      var table = el("table");
      var head = el("tr");
      ["Class", "green", "yellow", "red", "Drops/s"].forEach(function (h, i) {
        var th = el("th", null, i ? "num" : "");
        if (i >= 1 && i <= 3) th.appendChild(el("span", null, "dot dot-" + h));
        th.appendChild(document.createTextNode(i >= 1 && i <= 3 ? h + " bit/s" : h));
        head.appendChild(th);
      });
      var thead = el("thead");
      thead.appendChild(head);
      table.appendChild(thead);
      var body = el("tbody");
      p.classes.forEach(function (c) {
        var col = function (name) {
          var x = c.colors[name];
          return { text: si(x.bits_per_s, "") + " (" + si(x.packets_per_s, "") + " pkt/s)", cls: "num" };
        };
        body.appendChild(row([c.name + (c.shaped ? " (shaped)" : ""), col("green"), col("yellow"), col("red"),
                              { text: si(c.drops.per_s), cls: "num" }]));
      });
      table.appendChild(body);
      div.appendChild(table);
      parts.push(div);
    });
    box.replaceChildren.apply(box, parts);
    var p = document.querySelector('.empty[data-for="qos"]');
    p.textContent = d.enabled ? "No QoS policy installed." : "No traffic control on this agent (it needs inline pairs or qos.mode: tc).";
    p.hidden = parts.length > 0;
  }

  // --- charts (canvas, drawn by hand) -------------------------------------------

  function drawChart(canvas, values, color, unit, maxLabel) {
    var dpr = window.devicePixelRatio || 1;
    var w = canvas.clientWidth, h = canvas.clientHeight;
    if (!w || !h) return;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    var g = canvas.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    var max = 0;
    values.forEach(function (v) { if (v > max) max = v; });
    var top = max > 0 ? max * 1.1 : 1;
    g.strokeStyle = "#2a3440";
    g.lineWidth = 1;
    for (var i = 1; i < 4; i++) {
      var y = Math.round(h * i / 4) + 0.5;
      g.beginPath(); g.moveTo(0, y); g.lineTo(w, y); g.stroke();
    }
    maxLabel.textContent = max > 0 ? "peak " + si(max, unit) : "";
    if (values.length < 2) return;
    var step = w / (HISTORY - 1);
    var x0 = w - step * (values.length - 1);
    g.beginPath();
    values.forEach(function (v, i) {
      var x = x0 + i * step, y = h - (v / top) * (h - 4) - 2;
      if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
    });
    g.strokeStyle = color;
    g.lineWidth = 1.5;
    g.stroke();
    g.lineTo(x0 + (values.length - 1) * step, h);
    g.lineTo(x0, h);
    g.closePath();
    g.globalAlpha = 0.15;
    g.fillStyle = color;
    g.fill();
    g.globalAlpha = 1;
  }

  function drawCharts() {
    drawChart($("chart-pps"), state.history.map(function (p) { return p.pps; }), "#4fb3ff", "", $("pps-max"));
    drawChart($("chart-bps"), state.history.map(function (p) { return p.bps; }), "#9b7bff", "bit/s", $("bps-max"));
  }
  window.addEventListener("resize", drawCharts);

  // --- boot -------------------------------------------------------------------

  $("signin-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var t = $("token").value.trim();
    if (!t) {
      $("signin-error").textContent = "Enter a token.";
      return;
    }
    signIn(t);
  });
  $("signout").addEventListener("click", function () { signOut(""); });

  // /api/v1/dashboard is open: it says whether data may be read without a
  // token. Until the agent answers it, the page waits and says so.
  var bootAttempt = 0;
  function boot() {
    getJson("/api/v1/dashboard", false).then(function (res) {
      banner("");
      // 401: api.metrics_auth closes the open routes too; a token is needed.
      state.info = res.status === 200 && res.body ? res.body : { anonymous_view: false };
      if (state.info.version) $("version").textContent = "v" + state.info.version;
      var saved = sessionStorage.getItem(TOKEN_KEY);
      if (saved) signIn(saved, true);
      else if (state.info.anonymous_view) start(null);
      else signInView("");
    }, bootRetry);
  }
  function bootRetry() {
    bootAttempt++;
    var delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * Math.pow(2, bootAttempt - 1));
    banner("The agent does not answer; trying again (attempt " + bootAttempt + ", in " + (delay / 1000).toFixed(1) + " s).");
    setTimeout(boot, delay);
  }
  boot();
})();
