// The reconciliation screen (对账): the days reconciled with their status, a day's cases, and the steps that resolve
// a case. Which steps a case admits comes from the API (`actions`); who may take them is the API's to say too, so
// the screen only leaves out what this person's role can never do and shows the API's refusal of anything else.
"use strict";
const recon = { day: null };
const KINDS = {
  alipay_only: "paid at Alipay, unknown here", ours_only: "recorded here, missing at Alipay",
  amount_mismatch: "amount mismatch", status_mismatch: "status mismatch", duplicate_payment: "duplicate payment",
  other_day: "dated another day here",
};
const ACTIONS = {
  query: { label: () => "Query Alipay" },
  record: { label: (c) => (c.line === "refund" ? "Record refund" : "Record payment"),
    explain: (c) => `Asks Alipay, then records the ${c.line} Alipay made (${c.alipay_fen} fen) on our books, once.` },
  refund_duplicate: { label: () => "Refund duplicate", reason: "optional",
    explain: (c) => `Gives the second taking (${c.alipay_fen} fen, Alipay trade ${c.trade_no}) back to the payer.` },
  correct: { label: () => "Correct ours", reason: "required",
    explain: (c) => (c.kind === "amount_mismatch" ? `Makes our ${c.line} say Alipay's ${c.alipay_fen} fen instead of ${c.ours_fen} fen.`
                                                 : `Dates our ${c.line} as Alipay does (${when(c.alipay_at)}).`) },
  write_off: { label: () => "Write off", reason: "required",
    explain: () => "Proposes writing the difference off; another person of role finance must approve it before it counts." },
  approve_write_off: { label: () => "Approve write-off",
    explain: (c) => `Approves the write-off ${who(c.proposed_by)} proposed: “${c.resolution_note}”. The case is then resolved.` },
};

function who(id) { return me && id === me.id ? "you" : id; }

function detail(c) {
  const lines = [c.note];
  const v = c.alipay_view;
  if (v && v.trade_status) lines.push(`Alipay says ${v.trade_status}${v.total_amount_fen != null ? `, ${v.total_amount_fen} fen` : ""}`);
  if (c.status === "awaiting_approval") lines.push(`write-off proposed by ${who(c.proposed_by)}: ${c.resolution_note}`);
  if (c.status === "resolved") lines.push(`${c.resolution.replace(/_/g, " ")} by ${who(c.resolved_by)} ${when(c.resolved_at)}: ${c.resolution_note}`);
  const td = cell("");
  td.className = "detail";
  lines.filter(Boolean).forEach((l, i) => { if (i) td.appendChild(document.createElement("br")); td.appendChild(document.createTextNode(l)); });
  return td;
}

function caseActions(c) {
  const td = cell("", "actions");
  if (!mayAct()) return td;
  for (const action of c.actions) {
    if (action === "approve_write_off" && (!atLeast("finance") || me.id === c.proposed_by)) {
      td.appendChild(document.createTextNode(me.id === c.proposed_by ? "waits for a second finance approver"
                                                                      : "waits for a finance approver"));
      continue;
    }
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.action = action;
    b.textContent = ACTIONS[action].label(c);
    b.addEventListener("click", () => (action === "query" ? resolveNow(c, "query").catch(() => {}) : openResolve(c, action)));
    td.appendChild(b);
  }
  return td;
}

async function openDay(day) {
  recon.day = day;
  const [{ body: d }, { body: list }] = await Promise.all([
    call(`/reconciliation/days/${day}`), call(`/reconciliation/days/${day}/cases?limit=1000`)]);
  $("#recon-day").hidden = false;
  $("#recon-day-name").textContent = day;
  $("#recon-day-status").textContent = d.status;
  $("#recon-day-status").className = `status ${d.status}`;
  $("#recon-day-note").textContent = {
    open: `${d.cases.open} open, ${d.cases.awaiting_approval} awaiting approval of a write-off (of the cases you may see): `
          + "the day closes when every case is resolved.",
    balanced: "Alipay's bill and our books agreed line for line: nothing to resolve.",
    closed: `Closed ${when(d.closed_at)}: every case found was resolved.`,
  }[d.status];
  document.querySelectorAll("#recon-days-table tbody tr").forEach((tr) => tr.classList.toggle("selected", tr.dataset.id === day));
  fill("recon-table", list.cases, (c) => [cell(c.id), cell(KINDS[c.kind]), cell(c.line),
    cell(c.trade_no ? `${c.out_trade_no} / ${c.trade_no}` : c.out_trade_no), cell(c.order_id), cell(c.operator_id),
    cell(c.ours_fen, "num"), cell(c.alipay_fen, "num"), status(c.status), detail(c), caseActions(c)]);
  document.querySelectorAll("#recon-table tbody tr").forEach((tr, i) => { tr.dataset.kind = list.cases[i].kind; });
}

function openResolve(c, action) {
  const form = $("#resolve-form");
  const how = ACTIONS[action];
  clearFieldErrors(form);
  form.reset();
  form.dataset.caseId = c.id;
  form.dataset.action = action;
  $("#resolve-id").textContent = c.id;
  $("#resolve-label").textContent = how.label(c);
  $("#resolve-detail").textContent = how.explain(c);
  form.elements.reason.closest("label").hidden = !how.reason;
  form.elements.reason.placeholder = how.reason || "";
  form.hidden = false;
  (how.reason ? form.elements.reason : form.querySelector("button[type=submit]")).focus();
}

function resolvedSay(c) {
  if (c.status === "awaiting_approval") return `Case ${c.id}: write-off proposed; another finance user must approve it`;
  if (c.status === "resolved") return `Case ${c.id}: ${c.resolution.replace(/_/g, " ")}`;
  const v = c.alipay_view || {};
  return `Case ${c.id}: Alipay says ${v.trade_status || "nothing"}${v.total_amount_fen != null ? `, ${v.total_amount_fen} fen` : ""}`;
}

async function resolveNow(c, action, reason, form) {
  const body = { action, ...(reason ? { reason } : {}) };
  const r = await call(`/reconciliation/cases/${c.id}/resolve`, { method: "POST", body: JSON.stringify(body), form });
  await loaders.reconciliation().catch(() => {});
  say(resolvedSay(r.body));  // after the tables show it
}

// this month in Shanghai, where reconciliation days are cut
function thisMonth() {
  const parts = new Intl.DateTimeFormat("en", { timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit" }).formatToParts(new Date());
  const part = (type) => parts.find((p) => p.type === type).value;
  return `${part("year")}-${part("month")}`;
}

loaders.reconciliation = async function reconciliation() {
  const month = $("#recon-month").value || ($("#recon-month").value = thisMonth());
  const { days } = (await call(`/reconciliation/months/${month}`)).body;
  if ($("#recon-month").value !== month) return;  // another month was asked for meanwhile
  $("#recon-days-empty").hidden = days.length > 0;
  fill("recon-days-table", days.map((d) => ({ ...d, id: d.day })), (d) => [cell(d.day), status(d.status),
    cell(d.cases.open, "num"), cell(d.cases.awaiting_approval, "num"), cell(d.cases.resolved, "num"), cell(d.bill_lines, "num"),
    cell(d.matched, "num"), cell(when(d.closed_at)), button("Cases", () => openDay(d.day).catch(() => {}))]);
  if (recon.day) await openDay(recon.day);
};

$("#resolve-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = ev.target;
  try {
    await resolveNow({ id: form.dataset.caseId }, form.dataset.action, form.elements.reason.value.trim(), form);
    form.hidden = true;
  } catch (e) { /* shown beside its field, or on top */ }
});
$("#recon-month").addEventListener("change", () => {
  recon.day = null;
  $("#recon-day").hidden = true;
  loaders.reconciliation().catch(() => {});
});
$("#resolve-cancel").addEventListener("click", () => { $("#resolve-form").hidden = true; });

$("#recon-run-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = ev.target;
  const day = form.elements.day.value;
  try {
    const d = (await call(`/reconciliation/days/${day}/run`, { method: "POST", form })).body;
    const n = d.cases.open + d.cases.awaiting_approval + d.cases.resolved;
    recon.day = day;
    $("#recon-month").value = day.slice(0, 7);
    await loaders.reconciliation().catch(() => {});
    say(`Day ${day} reconciled: ${d.status}, ${d.matched} of ${d.bill_lines} bill lines matched, ${n} case(s)`);
  } catch (e) { /* shown */ }
});

onSignIn.push(() => { $("#recon-run-form").hidden = !(me.kind === "city" && atLeast("staff")); });
onSignOut.push(() => { recon.day = null; $("#recon-day").hidden = true; $("#resolve-form").hidden = true; });
