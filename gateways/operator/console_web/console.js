// The operator console: signs in with a user and password (a short-lived session token, kept for this tab
// only), then reads and changes what the operator API allows this person. No framework, no network but the platform.
"use strict";
const API = "/v1/operator";
const $ = (sel) => document.querySelector(sel);
const ROLES = ["viewer", "staff", "finance", "admin"];
let token = sessionStorage.getItem("operatorToken");
let me = null;
const onSignIn = [];   // screens in other files (reconciliation.js, evidence.js) set themselves up for the person ...
const onSignOut = [];  // ... and forget what they showed

function atLeast(role) { return me !== null && ROLES.indexOf(me.role) >= ROLES.indexOf(role); }
// a viewer, and a district (which reads its operators' data), see everything and change nothing
function mayAct() { return atLeast("staff") && me.kind !== "district"; }

function status(text) { return cell(text ? text.replace(/_/g, " ") : "", `status ${text || ""}`); }

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  if (cls) td.className = cls;
  return td;
}

function button(label, onClick) {
  const td = document.createElement("td");
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.addEventListener("click", onClick);
  td.appendChild(b);
  return td;
}

function fill(tableId, rows, makeRow) {
  const body = document.querySelector(`#${tableId} tbody`);
  body.replaceChildren(...rows.map((r) => {
    const tr = document.createElement("tr");
    tr.dataset.id = r.id || r.approval_id || r.lot_id || "";
    for (const td of makeRow(r)) tr.appendChild(td);
    return tr;
  }));
}

function when(t) { return t ? new Date(t).toLocaleString("zh-CN", { hour12: false }) : ""; }

function say(msg) { $("#notice").textContent = msg; $("#error").textContent = ""; }

function clearFieldErrors(form) {
  form.querySelectorAll(".field-error").forEach((e) => { e.textContent = ""; });
  form.querySelectorAll("[aria-invalid]").forEach((e) => e.removeAttribute("aria-invalid"));
}

// The API names the field it refuses: the message goes beside that field when `form` has a place for it, else on top.
function showError(err, form) {
  $("#notice").textContent = "";
  const slot = form && err.field ? form.querySelector(`.field-error[data-for="${CSS.escape(err.field)}"]`) : null;
  if (!slot) { $("#error").textContent = err.message; return; }
  $("#error").textContent = "";
  slot.textContent = err.message;
  const input = form.elements.namedItem(err.field);
  if (input && input.setAttribute) input.setAttribute("aria-invalid", "true");
}

async function failure(r) {
  const body = await r.json().catch(() => null);
  const err = new Error(body && body.message ? body.message : `HTTP ${r.status}`);
  err.status = r.status;
  err.field = body ? body.field : null;
  return err;
}

// One request with this person's credential; an error is shown (by field when `form` is given) and thrown.
async function send(url, { form, ...options } = {}) {
  const headers = { "X-Operator-Key": token, ...(options.body ? { "Content-Type": "application/json" } : {}) };
  if (form) clearFieldErrors(form);
  const r = await fetch(url, { ...options, headers });
  if (r.status === 401) { signedOut("Your session has ended: sign in again."); throw new Error("signed out"); }
  if (!r.ok) {
    const err = await failure(r);
    showError(err, form);
    throw err;
  }
  return r;
}

async function call(path, options = {}) {
  const r = await send(API + path, options);
  return { status: r.status, body: r.status === 204 ? null : await r.json() };
}

function signedOut(message) {
  token = null;
  me = null;
  onSignOut.forEach((f) => f());
  sessionStorage.removeItem("operatorToken");
  $("#console").hidden = true;
  $("#who").hidden = true;
  $("#sign-in").hidden = false;
  $("#sign-in-error").textContent = message || "";
}

async function signIn(ev) {
  ev.preventDefault();
  const form = new FormData(ev.target);
  const r = await fetch(API + "/session", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: form.get("username"), password: form.get("password") }),
  });
  const body = await r.json();
  if (!r.ok) { $("#sign-in-error").textContent = body.message || `HTTP ${r.status}`; return; }
  token = body.token;
  sessionStorage.setItem("operatorToken", token);
  ev.target.reset();
  await start();
}

async function start() {
  me = (await call("/me")).body;
  $("#who-name").textContent = `${me.name} · ${me.kind} ${me.org_id} · ${me.role}`;
  $("#who").hidden = false;
  $("#sign-in").hidden = true;
  $("#console").hidden = false;
  onSignIn.forEach((f) => f());
  await show("lots");
}

const loaders = {
  async lots() {
    const { lots } = (await call("/lots?limit=1000")).body;
    fill("lots-table", lots, (l) => [cell(l.id), cell(l.name), cell(l.kind), cell(l.district), cell(`${l.free} / ${l.total}`),
      cell(l.status), cell(l.devices, "num"), cell(l.silent_devices, "num"), cell(l.low_battery_devices, "num")]);
  },
  async devices() {
    const problem = $("#device-problem").value;
    const { devices } = (await call(`/devices?limit=1000${problem ? "&problem=" + problem : ""}`)).body;
    fill("devices-table", devices, (d) => [cell(d.lot_id), cell(d.id), cell(when(d.last_heard)), cell(d.battery_mv, "num"),
      cell(d.silent ? "yes" : ""), cell(d.low_battery ? "yes" : "")]);
  },
  async stays() {
    const state = $("#stay-state").value;
    const { stays } = (await call(`/stays?limit=200${state ? "&state=" + state : ""}`)).body;
    fill("stays-table", stays, (s) => [cell(s.id), cell(s.lot_id), cell(s.plate + (s.exit_plate ? ` (exit read ${s.exit_plate})` : "")),
      cell(s.status), cell(when(s.entered_at)), cell(when(s.exited_at)), cell(s.minutes, "num"), cell(s.review),
      button("Correct", () => { $("#correct-id").textContent = s.id; $("#correct-form").hidden = false; })]);
  },
  async "long-stays"() {
    const { stays } = (await call("/long-stays?limit=500")).body;
    fill("long-stays-table", stays, (s) => [cell(s.id), cell(s.lot_id), cell(s.plate), cell(when(s.entered_at)),
      cell(Math.floor(s.minutes / 60), "num")]);
  },
  async orders() {
    const status = $("#order-status").value;
    const { orders } = (await call(`/orders?limit=200${status ? "&status=" + status : ""}`)).body;
    fill("orders-table", orders, (o) => [cell(o.id), cell(o.lot_id), cell(o.plate), cell(o.status), cell(o.amount_fen, "num"),
      cell(o.paid_fen, "num"), cell(when(o.exited_at)),
      button("Refund", () => {
        $("#refund-id").textContent = o.id;
        // one request id per opened form: a double submit or a retry is the same refund
        $("#refund-form").dataset.requestId = `console-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
        $("#refund-form").hidden = false;
      })]);
  },
  async approvals() {
    const { approvals } = (await call("/refund-approvals?status=pending&limit=500")).body;
    fill("approvals-table", approvals, (a) => [cell(a.approval_id), cell(a.order_id), cell(a.amount_fen, "num"), cell(a.reason),
      cell(a.requested_by), cell(a.status), button("Approve", () => decide(a.approval_id, "approve"))]);
  },
  async figures() {
    const day = $("#figures-day").value;
    const { lots } = (await call(`/figures?limit=1000${day ? "&day=" + day : ""}`)).body;
    fill("figures-table", lots, (f) => [cell(f.lot_id), cell(f.stays_entered, "num"), cell(f.stays_closed, "num"),
      cell(f.average_stay_min, "num"), cell(f.revenue_fen, "num"), cell(f.refunds_fen, "num"), cell(f.turnover, "num")]);
  },
  async audit() {
    const { entries } = (await call("/audit?limit=200")).body;
    fill("audit-table", entries, (e) => {
      const pre = (v) => { const td = cell(""); const p = document.createElement("pre"); p.textContent = v ? JSON.stringify(v) : ""; td.appendChild(p); return td; };
      return [cell(when(e.at)), cell(`${e.actor_name} (${e.actor_org})`), cell(e.action), cell(e.subject), pre(e.before), pre(e.after)];
    });
  },
};

async function show(tab) {
  document.querySelectorAll("#tabs button").forEach((b) => b.classList.toggle("active", b.dataset.tab === tab));
  document.querySelectorAll("[data-panel]").forEach((s) => { s.hidden = s.dataset.panel !== tab; });
  $("#error").textContent = "";
  try { await loaders[tab](); } catch (e) { /* shown in #error */ }
}

async function decide(approvalId, verdict) {
  try {
    await call(`/refund-approvals/${approvalId}/${verdict}`, { method: "POST", body: "{}" });
    say(`Approval ${approvalId}: ${verdict}d`);
    await loaders.approvals();
  } catch (e) { /* shown */ }
}

$("#sign-in-form").addEventListener("submit", signIn);
$("#sign-out").addEventListener("click", async () => {
  try { await call("/session", { method: "DELETE" }); } catch (e) { /* already ended */ }
  signedOut("Signed out.");
});
document.querySelectorAll("#tabs button").forEach((b) => b.addEventListener("click", () => show(b.dataset.tab)));
$("#device-problem").addEventListener("change", () => loaders.devices().catch(() => {}));
$("#stay-state").addEventListener("change", () => loaders.stays().catch(() => {}));
$("#order-status").addEventListener("change", () => loaders.orders().catch(() => {}));
$("#figures-day").addEventListener("change", () => loaders.figures().catch(() => {}));
$("#correct-cancel").addEventListener("click", () => { $("#correct-form").hidden = true; });
$("#refund-cancel").addEventListener("click", () => { $("#refund-form").hidden = true; });

$("#correct-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const id = $("#correct-id").textContent;
  const form = new FormData(ev.target);
  try {
    await call(`/stays/${id}/correct`, { method: "POST", body: JSON.stringify(Object.fromEntries(form)) });
    say(`Stay ${id} corrected`);
    ev.target.hidden = true;
    await loaders.stays();
  } catch (e) { /* shown */ }
});

$("#refund-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const id = $("#refund-id").textContent;
  const form = new FormData(ev.target);
  const body = { amount_fen: Number(form.get("amount_fen")), reason: form.get("reason"), request_id: ev.target.dataset.requestId };
  try {
    const r = await call(`/orders/${id}/refund`, { method: "POST", body: JSON.stringify(body), form: ev.target });
    say(r.body.approval_id ? `Refund of ${body.amount_fen} fen waits for approval (${r.body.approval_id})`
                           : `Refund of ${body.amount_fen} fen: ${r.body.status}`);
    ev.target.hidden = true;
    await loaders.orders();
  } catch (e) { /* shown */ }
});

// after every script of the page has run, so each screen has registered itself
document.addEventListener("DOMContentLoaded", () => { if (token) start().catch(() => signedOut()); });
