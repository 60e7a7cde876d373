// The plate evidence screen: vehicle licences (行驶证) drivers sent to prove a plate is theirs, for the plates that
// parked at this person's car parks. The file is fetched with this person's credential and shown from memory (a blob
// URL): it has no public address, and nothing of it is cached.
"use strict";
const evidence = { current: null, url: null };

function forgetEvidenceFile() {
  if (evidence.url) URL.revokeObjectURL(evidence.url);
  evidence.url = null;
  $("#evidence-image").hidden = true;
  $("#evidence-image").removeAttribute("src");
  $("#evidence-download").hidden = true;
  $("#evidence-download").removeAttribute("href");
  $("#evidence-file-note").textContent = "";
}

function closeReview() {
  evidence.current = null;
  forgetEvidenceFile();
  $("#evidence-review").hidden = true;
}

async function showFile(v) {
  $("#evidence-file-note").textContent = "loading the file…";
  let blob;
  try {
    blob = await (await send(v.file)).blob();
  } catch (e) {
    if (evidence.current === v) $("#evidence-file-note").textContent = e.message;
    return;
  }
  if (evidence.current !== v) return;  // another submission was opened meanwhile
  evidence.url = URL.createObjectURL(blob);
  const link = $("#evidence-download");
  link.href = evidence.url;
  link.download = `${v.plate}-${v.id}.${{ "image/jpeg": "jpg", "image/png": "png", "application/pdf": "pdf" }[v.content_type] || "bin"}`;
  link.hidden = false;
  if (v.content_type.startsWith("image/")) {
    $("#evidence-image").src = evidence.url;
    $("#evidence-image").hidden = false;
    $("#evidence-file-note").textContent = "";
  } else {
    $("#evidence-file-note").textContent = "A PDF: download it to read it.";
  }
}

function review(v) {
  forgetEvidenceFile();
  evidence.current = v;
  $("#evidence-id").textContent = v.id;
  $("#evidence-plate").textContent = v.plate;
  const form = $("#decide-form");
  form.reset();
  clearFieldErrors(form);
  form.hidden = !(mayAct() && v.status === "pending");
  $("#evidence-review").hidden = false;
  document.querySelectorAll("#evidence-table tbody tr").forEach((tr) => tr.classList.toggle("selected", tr.dataset.id === v.id));
  showFile(v);
}

async function decideEvidence(verdict) {
  const v = evidence.current;
  const form = $("#decide-form");
  const note = form.elements.note.value.trim();
  clearFieldErrors(form);
  if (verdict === "reject" && !note) {
    showError({ field: "note", message: "note: say why the evidence is rejected (the driver is told)" }, form);
    return;
  }
  try {
    const r = await call(`/plate-verifications/${v.id}/${verdict}`, { method: "POST", body: JSON.stringify({ note }), form });
    closeReview();
    await loaders.evidence().catch(() => {});
    say(r.body.status === "approved" ? `${v.plate}: evidence approved, the plate is verified as the account's`
                                     : `${v.plate}: evidence rejected, the driver is told why`);
  } catch (e) { /* shown beside its field, or on top */ }
}

loaders.evidence = async function evidenceQueue() {
  const wanted = $("#evidence-status").value;
  const { verifications } = (await call(`/plate-verifications?limit=500${wanted ? "&status=" + wanted : ""}`)).body;
  $("#evidence-empty").hidden = verifications.length > 0;
  fill("evidence-table", verifications, (v) => [cell(v.id), cell(v.plate), cell(v.account_id), cell(when(v.created_at)),
    cell(`${v.content_type}, ${Math.max(1, Math.round(v.size / 1024))} KB`), status(v.status), cell(v.decided_by), cell(v.note),
    button("Review", () => review(v))]);
};

$("#evidence-status").addEventListener("change", () => { closeReview(); loaders.evidence().catch(() => {}); });
$("#evidence-approve").addEventListener("click", () => decideEvidence("approve"));
$("#evidence-reject").addEventListener("click", () => decideEvidence("reject"));
$("#evidence-close").addEventListener("click", closeReview);
$("#decide-form").addEventListener("submit", (ev) => ev.preventDefault());
onSignOut.push(closeReview);
