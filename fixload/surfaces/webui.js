// fixload's part of Locust's web UI (served at /fixload/ui.js, added to the page by fixload/surfaces/webui.py).
//
// Every 2 s it reads /fixload/panel.json and draws, outside Locust's React tree (so Locust's re-renders
// never touch it): the run's banner above the page (why START was refused, waiting for the common start
// instant, running, finalizing, then the verdict with its exit code and the summary link), and the chart
// panel below Locust's tabs (the HTML report's own SVG charts, drawn by the server from the live series).
// The banner's countdown and elapsed time tick on the page's clock between polls. On the start form it opens
// Locust's two accordions (the profile, the multiplier and the env file in plain sight), gives fixload's
// fields clean labels, says that users and ramp-up are set by the profile (no "required" mark on them), and
// names the header's user count for what the server reports there: VUs busy. It gives the page's own
// state-changing requests this process's token (fixload/surfaces/guard.py; docs/web-ui-security.md).
(() => {
  "use strict";
  const tag = document.querySelector('script[src$="fixload/ui.js"]');
  const base = tag.src.replace(/fixload\/ui\.js.*$/, "");
  const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);
  let stale = "";
  // a field the profile decides is disabled: it is not the user's to fill, so no "required" asterisk
  document.head.append(Object.assign(document.createElement("style"), {
    textContent: "label.Mui-disabled .MuiFormLabel-asterisk { display: none; }",
  }));

  // THE SHIM (the one place that relies on Locust's private behaviour): Locust's React UI sends START, STOP,
  // RESET and its user settings with RTK Query's fetchBaseQuery, whose default fetchFn calls the global
  // `fetch` at call time. So wrapping window.fetch adds the token to every same-origin request that changes
  // state. If Locust changes that, its START stops working with "refused: no X-Fixload-Token" and
  // tests/test_webui_security.py (test_locust_posts_through_the_global_fetch and the browser START) fails.
  //
  // It also keeps START from being undone. Locust's page sets its state from every /stats/requests answer
  // and polls only while that state is spawning or running: a read sent before START (answered "ready" or
  // "stopped") that reaches the page after START's success sends it back to the form, or to NEW, for good
  // while the test runs. So a stats read that a START overtook (sent after it, or still in flight when its
  // answer came) is asked again once that START is answered, and only that answer reaches Locust's page
  // (tests/test_webui_stop.py test_a_stats_read_from_before_start_does_not_undo_it).
  const ownFetch = window.fetch.bind(window);
  const STATS = new URL(base + "stats/requests").pathname;
  const START = new URL(base + "swarm").pathname;
  let starts = 0; // STARTs sent by this page
  let inFlight = 0; // of which not answered yet
  let started = Promise.resolve(); // the last START answered (or failed)
  window.fetch = (input, init = {}) => {
    const isRequest = input instanceof Request;
    const method = String(init.method || (isRequest ? input.method : "GET")).toUpperCase();
    const url = new URL(isRequest ? input.url : String(input), location.href);
    if (url.origin !== location.origin) return ownFetch(input, init);
    if (method === "GET" && url.pathname === STATS) {
      const sentAfter = starts, alone = inFlight === 0;
      return ownFetch(isRequest ? input.clone() : input, init).then((response) => {
        if (alone && starts === sentAfter) return response; // no START on its way while it was
        return started.then(() => window.fetch(input, init)); // a START overtook it: ask again
      });
    }
    if (SAFE.has(method)) return ownFetch(input, init);
    const headers = new Headers(init.headers || (isRequest ? input.headers : undefined));
    headers.set("X-Fixload-Token", tag.dataset.token);
    const sent = isRequest ? ownFetch(new Request(input, { ...init, headers })) : ownFetch(input, { ...init, headers });
    if (method === "POST" && url.pathname === START) {
      starts += 1;
      inFlight += 1;
      started = sent.then(() => {}, () => {}).finally(() => { inFlight -= 1; });
    }
    return sent.then((response) => {
      if (response.status === 403 && response.headers.get("X-Fixload-Refused")) {
        response.clone().json().then((r) => { stale = r.message; poll(); }, () => {});
      }
      return response;
    });
  };
  // the page's clock since the last poll: the countdown and the elapsed time move between polls
  const since = (data) => (performance.now() - data.receivedAt) / 1000;
  const PHASES = {
    ready: ["info", () => "fixload: ready — press START to run the profile"],
    refused: ["error", (r) => `fixload: START refused — ${r.message}`],
    waiting: ["info", (r, p) => {
      if (r.startsIn == null) return "fixload: starting…";
      const left = r.startsIn - since(p);
      return left > 0.05 ? `fixload: waiting for the common start instant (in ${left.toFixed(1)} s)` : "fixload: starting now…";
    }],
    running: ["running", (r, p) => {
      const elapsed = Math.min(r.elapsed + since(p), r.duration == null ? Infinity : r.duration);
      return `fixload: running — ${elapsed.toFixed(0)} s of ${p.durationText}` + (p.failing ? ` · ${p.failing} threshold(s) failing so far` : "");
    }],
    provisioning: ["info", () => "fixload: setting up — provisioning the zone, service and campaign fixtures"],
    halting: ["error", (r) => `fixload: ending the test — ${r.reason}${r.detail ? ": " + r.detail : ""}`],
    finalizing: ["info", () => "fixload: finalizing — collecting the last samples, evaluating thresholds, writing the summary"],
  };
  const VERDICT_KIND = { passed: "ok", thresholds_failed: "error", aborted: "error", setup_failed: "error", target_unreachable: "error", error: "error", interrupted: "warn" };
  const COLORS = { info: ["#1e40af", "#dbeafe"], running: ["#065f46", "#d1fae5"], ok: ["#065f46", "#bbf7d0"], warn: ["#92400e", "#fef3c7"], error: ["#991b1b", "#fee2e2"] };

  // Both live in Locust's <main>, around its one container (tabs and tab content): React never adds a
  // sibling there, and when it re-mounts the page they are simply made again.
  function element(id, tag, before) {
    const node = document.getElementById(id) || Object.assign(document.createElement(tag), { id });
    const main = document.querySelector("main");
    const locust = main ? [...main.children].find((c) => !c.id.startsWith("fixload-")) : document.getElementById("root");
    if (!locust) return node;
    if (before && node.nextElementSibling !== locust) locust.before(node);
    if (!before && locust.nextElementSibling !== node) locust.after(node);
    return node;
  }

  function banner(data) {
    const run = data.run;
    const node = element("fixload-banner", "div", true);
    let kind, text;
    if (stale) {
      kind = "error";
      text = `fixload: ${stale} — reload the page`;
    } else if (run.phase === "stopped") {
      kind = VERDICT_KIND[run.status] || "warn";
      text = `fixload: ${run.verdict.toUpperCase()} — exit code ${run.exitCode}` + (run.reason ? ` — ${run.reason}` : "");
    } else {
      const [k, render] = PHASES[run.phase] || PHASES.ready;
      kind = k;
      text = render(run, data);
    }
    const [fg, bg] = COLORS[kind];
    node.dataset.phase = run.phase;
    node.dataset.status = run.status || "";
    node.style.cssText = `position:sticky;top:0;z-index:1200;margin:8px 24px 0;border-radius:6px;padding:8px 16px;font:600 14px system-ui,sans-serif;color:${fg};background:${bg};border:1px solid ${fg}33`;
    node.textContent = text;
    if (run.phase === "stopped") {
      const link = document.createElement("a");
      link.href = base + run.summary.replace(/^\//, "");
      link.textContent = "summary JSON";
      link.style.cssText = `margin-left:12px;color:${fg}`;
      node.append(" · ", link);
      const warn = (className, text) => {
        const line = document.createElement("div");
        line.className = className;
        line.textContent = text;
        line.style.cssText = "margin-top:4px;font-weight:500;color:#92400e";
        node.append(line);
      };
      // the generator fell behind: its timings may be its own, not the target's
      if (run.warning) warn("fixload-generator-warning", run.warning);
      // k6's Insufficient VUs: iterations dropped, per scenario
      for (const line of run.vusWarnings || []) warn("fixload-vus-warning", line);
    }
  }

  function charts(data) {
    const node = element("fixload-charts", "section", false);
    if (!data.charts) {
      node.hidden = true;
      return;
    }
    node.hidden = false;
    node.style.cssText = "max-width:1400px;margin:16px auto;padding:0 16px;font-family:system-ui,sans-serif";
    const signature = data.charts.length + ":" + data.charts.slice(-200);
    if (node.dataset.signature === signature) return;
    node.dataset.signature = signature;
    node.innerHTML = `<style>${data.css}</style>` +
      `<h2 style="font-size:17px">fixload — per scenario: scheduled vs achieved iterations/s, dropped iterations, p95 against its threshold</h2>` +
      data.charts;
  }

  function profileFields(data) {
    if (!data.profileDecides) return;
    for (const [name, text] of Object.entries(data.profileDecides)) {
      const input = document.querySelector(`input[name=${name}]`);
      if (input && input.disabled && input.value !== text) {
        input.value = text;
        input.title = "The profile's scenarios decide how many VUs run and when they start";
      }
      if (input && input.disabled) input.required = false; // the profile's, not the user's to fill
    }
  }

  // Locust puts the profile (its own field) under a collapsed "Advanced options" and fixload's fields under
  // a collapsed "Custom parameters", each labelled "Name (help text)": open both once per form (a user may
  // close them again), and label fixload's fields by their names, the help in their tooltip.
  const opened = new WeakSet();
  const TITLES = { "Advanced options": "Profile and run time", "Custom parameters": "fixload: multiplier, env file, summary" };
  function form(data) {
    for (const summary of document.querySelectorAll(".MuiAccordionSummary-root")) {
      const title = summary.querySelector(".MuiTypography-root") || summary;
      const text = title.textContent.trim();
      if (TITLES[text]) title.textContent = TITLES[text];
      if (!Object.values(TITLES).includes(title.textContent.trim())) continue;
      if (!opened.has(summary)) {
        opened.add(summary);
        if (summary.getAttribute("aria-expanded") === "false") summary.click();
      }
    }
    for (const [name, label] of Object.entries(data.formLabels || {})) {
      const input = document.querySelector(`input[name=${name}]`);
      const node = input && input.id && document.querySelector(`label[for="${input.id}"]`);
      if (!node || node.dataset.fixload === label) continue;
      const help = node.textContent.match(/^[^(]*\((.*)\)\s*\*?\s*$/);
      if (help && !input.title) input.title = help[1];
      node.textContent = label;
      node.dataset.fixload = label;
      const notch = input.parentElement && input.parentElement.querySelector("legend span"); // the outline's gap
      if (notch) notch.textContent = label;
    }
  }

  // The header's "Users" is what fixload answers in /stats/requests' user_count: the VUs busy now.
  function header() {
    for (const node of document.querySelectorAll("header p, header span, header h6")) {
      if (node.children.length === 0 && node.textContent === "Users") node.textContent = "VUs busy";
    }
  }

  // Locust stops polling its stats when a test stops, so its table keeps the last rows it fetched while the
  // test ran: once the run has stopped there is no "now", and the Scenarios tab's "now" columns are blanked.
  function clearNow(data) {
    if (data.run.phase !== "stopped") return;
    for (const table of document.querySelectorAll("table")) {
      const titles = [...table.querySelectorAll("thead th")].map((th) => th.textContent.trim());
      const columns = data.nowColumns.map((title) => titles.indexOf(title)).filter((i) => i >= 0);
      if (columns.length !== data.nowColumns.length) continue;
      for (const row of table.querySelectorAll("tbody tr")) {
        for (const i of columns) {
          const cell = row.children[i];
          const blank = /\//.test(cell.textContent) ? cell.textContent.replace(/^[^/]+\/[^/]+\//, "— / — /") : "—";
          if (cell && cell.textContent !== blank) cell.textContent = blank;
        }
      }
    }
  }

  function duration(seconds) {
    if (seconds == null) return "?";
    const m = Math.floor(seconds / 60), s = Math.round(seconds % 60);
    return m ? `${m} min ${s} s` : `${s} s`;
  }

  async function poll() {
    try {
      const response = await fetch(base + "fixload/panel.json", { credentials: "include", cache: "no-store" });
      if (response.ok) {
        const data = await response.json();
        data.durationText = duration(data.run.duration);
        data.receivedAt = performance.now();
        window.fixloadPanel = data;
        banner(data);
        charts(data);
        profileFields(data);
        form(data);
        header();
        clearNow(data);
      }
    } catch (error) {
      // the server is gone or restarting: keep the last banner, try again
    }
  }

  poll();
  setInterval(poll, 2000);
  // the countdown and the elapsed time move with the page's clock; at the start instant, ask at once
  let due = false;
  setInterval(() => {
    const data = window.fixloadPanel;
    if (!data || !["waiting", "running"].includes(data.run.phase)) return;
    banner(data);
    const left = data.run.startsIn == null ? null : data.run.startsIn - since(data);
    if (data.run.phase === "waiting" && left != null && left <= 0 && !due) {
      due = true;
      poll().finally(() => { due = false; });
    }
  }, 200);
  // START / STOP / NEW: show their effect without waiting for the next poll (a person's clicks only: this
  // script's own opening of the accordions is not one)
  document.addEventListener("click", (event) => {
    if (event.isTrusted && event.target.closest && event.target.closest("button")) [300, 1000].forEach((ms) => setTimeout(poll, ms));
  }, true);
  // the form is re-mounted when a test stops: fill its profile fields as soon as it appears
  new MutationObserver(() => {
    const data = window.fixloadPanel;
    if (!data) return;
    profileFields(data);
    form(data);
    header();
    clearNow(data);
  }).observe(document.body, { childList: true, subtree: true });
})();
