// The public page's enhancement: refreshes the figures from /page/state.json every few seconds,
// says when they are stale or the service is unavailable, and draws the chart with uPlot when the
// library was served. Amounts stay the decimal strings the service sends; they are never parsed
// for display (the chart's coordinates alone are numbers).
(function () {
  "use strict";
  var body = document.body;
  var params = new URLSearchParams(window.location.search);
  var pollSeconds = Number(params.get("poll") || body.dataset.pollSeconds || 3);
  var staleSeconds = Number(params.get("stale") || body.dataset.staleSeconds || 15);
  var lastGood = Date.now();
  var lastGoodAt = document.getElementById("generated-at").getAttribute("datetime");
  var failing = false;
  var chainDown = document.getElementById("freshness").dataset.state === "unavailable";
  var chainStale = document.getElementById("freshness").dataset.state === "stale";
  var chainAsOf = null;
  var plot = null;

  function el(tag, text, attrs) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (attrs) Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    return node;
  }
  function setText(id, text) {
    var node = document.getElementById(id);
    if (node && node.textContent !== text) node.textContent = text;
  }
  function timeEl(iso) { return el("time", iso, { datetime: iso || "" }); }
  function codeEl(text) { return el("code", text || ""); }
  function row(cells) {
    var tr = document.createElement("tr");
    cells.forEach(function (c) {
      var td = document.createElement("td");
      if (c instanceof Node) td.appendChild(c); else td.textContent = c === null || c === undefined ? "" : String(c);
      tr.appendChild(td);
    });
    return tr;
  }
  function fillBody(tableId, rows, emptyText, columns) {
    var tbody = document.querySelector("#" + tableId + " tbody");
    var fresh = document.createElement("tbody");
    if (rows.length === 0) {
      var tr = el("tr");
      tr.appendChild(el("td", emptyText, { colspan: String(columns) }));
      fresh.appendChild(tr);
    }
    rows.forEach(function (r) { fresh.appendChild(r); });
    tbody.replaceWith(fresh);
  }

  function showFreshness() {
    var node = document.getElementById("freshness");
    var age = Math.round((Date.now() - lastGood) / 1000);
    var stale = age > staleSeconds || chainStale;
    var state = failing ? "unavailable" : chainDown ? "unavailable" : stale ? "stale" : "live";
    var text;
    if (failing) {
      text = "Unavailable: the service is not answering" + (stale ? "; the figures are stale" : "") +
        " (last refreshed " + age + " s ago, at " + lastGoodAt + ").";
    } else if (chainStale && age <= staleSeconds) {
      text = "Stale: the chain's figures were last read at " + chainAsOf + "; the node is not answering.";
    } else if (stale) {
      text = "Stale: the figures were last refreshed " + age + " s ago, at " + lastGoodAt + ".";
    } else if (chainDown) {
      text = "Figures as of " + lastGoodAt + "; the chain is unavailable.";
    } else {
      text = "Live: figures as of " + lastGoodAt + ", refreshed every " + pollSeconds + " s.";
    }
    node.dataset.state = state;
    node.dataset.stale = stale ? "true" : "false";
    setText("freshness", text);
  }

  function render(v) {
    setText("supply", v.supply === null ? "unavailable" : v.supply);
    setText("tokens-outstanding", v.tokens_outstanding);
    setText("total-reserves", v.total_reserves);
    setText("ratio", v.ratio === null ? "unavailable" : v.ratio);
    setText("pending-payouts", v.pending_payouts);
    setText("minting", v.minting_halted ? "halted" : "open");
    document.getElementById("verification").dataset.status = v.verification.status;
    setText("verification-summary", v.verification.summary);
    var checks = document.getElementById("verification-checks");
    checks.replaceChildren.apply(checks, v.verification.checks.map(function (c) {
      return el("li", c.name + ": " + (c.ok ? "ok" : "MISMATCH") + " (" + c.detail + ")");
    }));
    fillBody("custody", v.custody.map(function (c) {
      var statement = c.statement_as_of ? timeEl(c.statement_as_of) : "none";
      if (c.statement_as_of) statement.textContent = c.statement_as_of + " (" + c.statement_balance + ")";
      return row([c.bank, c.amount, statement, c.failed ? "failed" : (c.statement_stale ? "stale" : "ok")]);
    }), "No reserves held yet.", 4);
    fillBody("activity", v.activity.map(function (a) {
      var tr = row([a.seq, timeEl(a.time), a.kind, a.amount || "", a.resident || "", codeEl(a.account), txCell(a.tx_hash, a.tx_url, a.block)]);
      tr.dataset.seq = String(a.seq);
      return tr;
    }), "No mints or redemptions yet.", 7);
    fillBody("history", v.history.slice(-10).reverse().map(function (p) {
      return row([timeEl(p.time), p.supply, p.reserves]);
    }), "", 3);
    var classes = document.getElementById("classes");
    if (v.classes) {
      var c = v.classes;
      classes.replaceChildren(
        el("p", "From the latest signed snapshot (#" + c.snapshot_id + ", block " + c.block + ")."),
        (function () {
          var t = el("table"); var tb = el("tbody"); t.appendChild(tb);
          [["Outstanding, redeemable (" + v.currency + ")", c.outstanding_redeemable],
           ["Frozen, not redeemable now (" + v.currency + "; " + c.frozen_accounts + " accounts)", c.frozen],
           ["Total (" + v.currency + ")", c.total]].forEach(function (pair) {
            var tr = el("tr"); tr.appendChild(el("th", pair[0], { scope: "row" })); tr.appendChild(el("td", pair[1])); tb.appendChild(tr);
          });
          return t;
        })()
      );
    }
    var att = document.getElementById("attestation");
    if (v.attestation) {
      var p = el("p", v.attestation.amount + " " + v.currency + " attested" + (v.attestation.time ? " at " : ""));
      if (v.attestation.time) p.appendChild(timeEl(v.attestation.time));
      p.appendChild(document.createTextNode(": "));
      p.appendChild(el("a", "the report", { href: v.attestation.report_url }));
      p.appendChild(document.createTextNode(" (SHA-256 "));
      p.appendChild(codeEl(v.attestation.report_hash));
      p.appendChild(document.createTextNode(")."));
      att.replaceChildren(p);
    }
    var head = document.getElementById("head");
    if (v.head) {
      head.replaceChildren(document.createTextNode("size " + v.head.tree_size + ", root "), codeEl(v.head.root),
        document.createTextNode(", signed "), timeEl(v.head.time));
    }
    var anchored = document.getElementById("anchored");
    if (v.anchored) {
      anchored.replaceChildren(document.createTextNode("size " + v.anchored.tree_size + ", root "), codeEl(v.anchored.root),
        document.createTextNode(", in block " + v.anchored.anchor_block + ", transaction "), codeEl(v.anchored.anchor_tx));
    }
    renderMonitor(v.monitor);
    drawChart(v.history);
  }

  // A transaction's hash (a link when the page knows an explorer) and its block.
  function txCell(hash, url, block) {
    var tx = document.createElement("span");
    if (hash) {
      if (url) { var link = el("a", null, { href: url }); link.appendChild(codeEl(hash)); tx.appendChild(link); }
      else tx.appendChild(codeEl(hash));
    }
    if (block !== null && block !== undefined) tx.appendChild(document.createTextNode(" (block " + block + ")"));
    return tx;
  }

  function renderMonitor(m) {
    var section = document.getElementById("monitor");
    if (!section || !m || !m.configured) return;
    section.dataset.state = !m.available ? "unavailable" : m.stale ? "stale" : "live";
    var status = "The supervisors' monitor reads only public data (the chain and this service's public log) and keeps its own signed log of findings";
    status += m.available ? ": " + m.size + " findings so far" + (m.stale ? " (stale: last read at " + m.as_of + ")" : "") : "; it is not answering now";
    var p = document.getElementById("monitor-status");
    p.replaceChildren(document.createTextNode(status + ". Its record: "),
      el("a", m.url, { href: m.url + "/v1/monitor/findings" }), document.createTextNode("."));
    fillBody("monitor-findings", m.findings.map(function (f) {
      var tr = row([f.seq, timeEl(f.time), f.severity, f.rule, f.summary, txCell(f.tx_hash, f.tx_url, f.block)]);
      tr.dataset.seq = String(f.seq);
      tr.dataset.severity = f.severity;
      return tr;
    }), "No findings.", 6);
  }

  function drawChart(history) {
    var target = document.getElementById("chart");
    if (!target || typeof window.uPlot !== "function" || history.length === 0) return;
    var supplyText = history.map(function (p) { return p.supply; });
    var reservesText = history.map(function (p) { return p.reserves; });
    // Coordinates only: the legend shows the service's strings.
    var data = [
      history.map(function (p) { return p.t; }),
      supplyText.map(Number),
      reservesText.map(Number),
    ];
    function label(strings) { return function (u, value, si, idx) { return idx === null || idx === undefined ? "" : strings[idx]; }; }
    if (plot) plot.destroy();
    plot = new window.uPlot({
      width: Math.min(900, target.clientWidth || 900),
      height: 260,
      series: [
        {},
        { label: "Supply (USD)", stroke: "#1f77b4", value: label(supplyText) },
        { label: "Reserves (USD)", stroke: "#2ca02c", value: label(reservesText) },
      ],
    }, data, target);
    target.dataset.points = String(history.length);
  }

  function poll() {
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    var timer = setTimeout(function () { if (controller) controller.abort(); }, Math.max(2000, pollSeconds * 1000));
    fetch("/page/state.json", { cache: "no-store", signal: controller ? controller.signal : undefined })
      .then(function (answer) {
        if (!answer.ok) throw new Error("HTTP " + answer.status);
        return answer.json();
      })
      .then(function (v) {
        render(v);
        failing = false;
        chainDown = !v.chain_available;
        chainStale = !!v.chain_stale;
        chainAsOf = v.chain_as_of;
        lastGood = Date.now();
        lastGoodAt = v.generated_at;
        var gen = document.getElementById("generated-at");
        if (gen) gen.setAttribute("datetime", v.generated_at);
      })
      .catch(function () { failing = true; })
      .then(function () { clearTimeout(timer); showFreshness(); setTimeout(poll, pollSeconds * 1000); });
  }

  body.dataset.enhanced = "true";
  setInterval(showFreshness, 1000);
  setTimeout(poll, 0);
})();
