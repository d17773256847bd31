// dockovn ui: the picture arrives over server-sent events (/events) and is drawn
// whole each time; the trace form posts to /trace.
"use strict";

const $ = (sel) => document.querySelector(sel);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function fillRows(table, rows) {
  const body = $(table + " tbody");
  body.replaceChildren(...rows);
}

function networkNames(state) {
  const names = {};
  for (const n of state.networks) names[n.id] = n.name || n.id.slice(0, 12);
  return names;
}

function drawHosts(state, names) {
  const cards = state.hosts.map((h) => {
    const label = h.hostname || h.name;
    const here = state.containers.filter((c) => c.host === h.name);
    const items = here.map((c) => el("div", {class: "container" + (c.up ? "" : " down"), "data-name": c.name},
      el("strong", {}, c.name), " ",
      el("span", {class: "addr"}, c.attachments.map((a) => `${names[a.network] || a.network.slice(0, 12)} ${a.addresses.join(" ")}`).join(", ")),
      c.up ? "" : " (down)"));
    return el("div", {class: "host", "data-host": label},
      el("h3", {}, label, h.registered ? "" : " (not registered)"),
      el("div", {class: "encap"}, h.encaps.join(", ")),
      ...(items.length ? items : [el("div", {class: "empty"}, "no containers")]));
  });
  $("#hosts").replaceChildren(...cards);
}

function drawTables(state, names) {
  fillRows("#networks", state.networks.map((n) => el("tr", {"data-network": n.name},
    el("td", {}, n.name), el("td", {}, n.subnets.join(" ")), el("td", {}, n.router || "-"),
    el("td", {}, state.containers.filter((c) => c.attachments.some((a) => a.network === n.id)).length))));
  const members = [];
  for (const db of ["nb", "sb"]) {
    for (const m of state.raft[db]) {
      const role = m.error ? "unreachable: " + m.error : (m.model === "clustered" ? (m.leader ? "leader" : "follower") : m.model);
      members.push(el("tr", {class: m.leader ? "member leader" : "member", "data-db": db}, el("td", {}, db.toUpperCase()), el("td", {}, m.remote), el("td", {}, role)));
    }
  }
  fillRows("#raft", members);
  fillRows("#policies", state.policies.map((p) => el("tr", {"data-policy": p.name},
    el("td", {}, p.name), el("td", {}, p.network), el("td", {}, p.allows_from), el("td", {}, p.ports), el("td", {}, p.allows_to))));
  const byKey = {};
  for (const c of state.containers) byKey[c.key] = c.name;
  fillRows("#services", state.services.map((s) => el("tr", {"data-service": s.name},
    el("td", {}, s.name), el("td", {}, s.vip), el("td", {}, s.backends.map((k) => byKey[k] || k.slice(0, 12)).join(", ") || "none"))));
  $("#doctor").replaceChildren(...(state.doctor || []).map((f) => el("li", {class: "finding sev-" + f.severity},
    `${f.severity} ${f.check}: ${f.summary}`, f.action ? ` — ${f.action}` : "")));
}

function drawTraceChoices(state) {
  const names = [...new Set(state.containers.map((c) => c.name))].sort();
  for (const id of ["#trace-src", "#trace-dst"]) {
    const select = $(id);
    const chosen = select.value;
    select.replaceChildren(...names.map((n) => el("option", {value: n}, n)));
    if (names.includes(chosen)) select.value = chosen;
  }
}

function draw(state) {
  const names = networkNames(state);
  drawHosts(state, names);
  drawTables(state, names);
  drawTraceChoices(state);
  $("#updated").textContent = "updated " + new Date().toLocaleTimeString();
}

function connect() {
  const source = new EventSource("/events");
  source.onopen = () => { $("#status").textContent = "live"; $("#status").className = "status live"; };
  source.onmessage = (event) => draw(JSON.parse(event.data));
  source.onerror = () => { $("#status").textContent = "reconnecting…"; $("#status").className = "status down"; };
}

$("#trace").addEventListener("submit", async (event) => {
  event.preventDefault();
  const result = $("#trace-result");
  result.textContent = "tracing…";
  const body = {src: $("#trace-src").value, dst: $("#trace-dst").value,
                protocol: $("#trace-proto").value, port: $("#trace-port").value || null};
  try {
    const answer = await (await fetch("/trace", {method: "POST", body: JSON.stringify(body),
                                                 headers: {"Content-Type": "application/json"}})).json();
    if (answer.error) {
      result.replaceChildren(el("div", {class: "verdict error"}, "trace failed: " + answer.error));
      return;
    }
    const verdict = el("div", {class: "verdict " + (answer.through ? "through" : "blocked")},
      (answer.through ? "gets through" : "does not get through") + ": " + answer.reason);
    const parts = [verdict];
    if (answer.policy) parts.push(el("div", {class: "policy"}, "policy: " + answer.policy));
    for (const note of answer.notes) parts.push(el("div", {class: "note"}, note));
    result.replaceChildren(...parts);
  } catch (err) {
    result.textContent = "trace failed: " + err;
  }
});

connect();
