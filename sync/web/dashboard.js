// The head-office dashboard: staff sign-in, then the admin API (/v1/...) with the staff session
// cookie. Every state change is a JSON POST (the server refuses anything else, against CSRF).
"use strict";

const byId = (id) => document.getElementById(id);
const money = (cents) => (cents / 100).toLocaleString(undefined, { style: "currency", currency: "EUR" });
const percent = (share) => `${(100 * share).toFixed(1)}%`;

async function api(method, path, body) {
  const options = { method, credentials: "same-origin", headers: {} };
  if (method !== "GET") {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body || {});
  }
  const response = await fetch(path, options);
  const json = await response.json().catch(() => ({}));
  if (response.status === 401 && path !== "/staff/sign-in") showSignIn("Your session has ended; sign in again.");
  if (!response.ok) throw new Error(json.error ? json.error.message : `HTTP ${response.status}`);
  return json;
}

function cell(row, text, className) {
  const element = document.createElement("td");
  element.textContent = text;
  if (className) element.className = className;
  row.append(element);
  return element;
}

function fill(tbodyId, items, writeRow) {
  const body = byId(tbodyId);
  body.replaceChildren();
  for (const item of items) {
    const row = document.createElement("tr");
    writeRow(row, item);
    body.append(row);
  }
}

function showSignIn(message) {
  byId("dashboard").classList.add("hidden");
  byId("staff-bar").classList.add("hidden");
  byId("staff-sign-in-panel").classList.remove("hidden");
  byId("staff-sign-in-error").textContent = message || "";
}

async function showTotals() {
  const totals = await api("GET", "/v1/chain/totals");
  const tills = await api("GET", "/v1/tills");
  const items = [["Members", totals.members.toLocaleString()],
                 ["Points outstanding", totals.points_outstanding.toLocaleString()],
                 ["Revenue, 30 days", money(totals.revenue_cents_30_days)],
                 ["Purchases, 30 days", totals.purchases_30_days.toLocaleString()],
                 ["Revenue, all time", money(totals.revenue_cents)],
                 ["Tills", String(tills.tills.filter((till) => !till.revoked).length)]];
  byId("totals").replaceChildren(...items.map(([label, value]) => {
    const box = document.createElement("div");
    box.className = "total";
    const strong = document.createElement("strong");
    strong.textContent = value;
    box.append(strong, document.createTextNode(label));
    return box;
  }));
  const now = Date.now();
  fill("tills", tills.tills, (row, till) => {
    cell(row, till.till_id);
    cell(row, till.store_id);
    cell(row, till.last_seen || "never");
    cell(row, String(till.last_acked_seq), "number");
    cell(row, String(till.pending_downstream), "number");
    const expiry = till.certificate_not_after;
    const soon = expiry && Date.parse(expiry) - now < 30 * 86400000;
    cell(row, expiry || "not seen yet", soon ? "expiring-soon" : "");
    cell(row, till.revoked ? "revoked" : "enrolled");
  });
}

function rfmGrid(members) {
  const counts = {};
  let most = 1;
  for (const member of members) {
    const key = `${member.rfm.r}-${member.rfm.f}`;
    counts[key] = (counts[key] || 0) + 1;
    most = Math.max(most, counts[key]);
  }
  const table = document.createElement("table");
  table.className = "rfm";
  const head = document.createElement("tr");
  head.append(document.createElement("th"));
  for (let f = 1; f <= 5; ++f) {
    const th = document.createElement("th");
    th.textContent = `F${f}`;
    head.append(th);
  }
  table.append(head);
  for (let r = 5; r >= 1; --r) {
    const row = document.createElement("tr");
    const th = document.createElement("th");
    th.textContent = `R${r}`;
    row.append(th);
    for (let f = 1; f <= 5; ++f) {
      const count = counts[`${r}-${f}`] || 0;
      const td = cell(row, String(count));
      td.style.backgroundColor = `rgba(31, 111, 92, ${0.12 + 0.88 * count / most})`;
    }
    table.append(row);
  }
  return table;
}

async function showSegmentation() {
  const runs = await api("GET", "/v1/segments/runs?limit=1");
  if (runs.runs.length === 0) {
    byId("run-title").textContent = "(no run yet: loyalty-hq segment --as-of DATE)";
    return;
  }
  const run = await api("GET", `/v1/segments/runs/${runs.runs[0].run_id}`);
  byId("run-title").textContent = `run ${run.run_id}, as of ${run.as_of}, ${run.members} members`;
  const segments = run.segments || [];
  byId("segment-sizes").replaceChildren(Charts.barChart(
    segments.map((segment) => ({ label: segment.name, values: [segment.members] })), String));
  byId("segment-revenue").replaceChildren(Charts.barChart(
    segments.map((segment) => ({ label: segment.name, values: [segment.revenue_share] })), percent));
  const select = byId("campaign-segment");
  select.replaceChildren(select.options[0]);
  for (const segment of segments) select.append(new Option(segment.name, segment.name));
  const members = (await api("GET", "/v1/segments/members?limit=10000")).members;
  byId("rfm-grid").replaceChildren(rfmGrid(members.filter((member) => member.rfm.r > 0)));
  const clv = members.map((member) => member.clv).filter((value) => typeof value === "number");
  byId("clv-histogram").replaceChildren(Charts.histogram(clv, 12, (value) => value.toFixed(0)));
  fill("clusters", run.clusters || [], (row, cluster) => {
    cell(row, String(cluster.id));
    cell(row, String(cluster.members), "number");
    cell(row, cluster.description);
  });
  fill("rules", (run.rules || []).slice(0, 15), (row, rule) => {
    cell(row, rule.antecedent.join(", "));
    cell(row, rule.consequent.join(", "));
    cell(row, percent(rule.confidence), "number");
    cell(row, rule.lift.toFixed(2), "number");
  });
}

async function showReport(campaign) {
  const report = await api("GET", `/v1/campaigns/${campaign.campaign_id}/report`);
  byId("campaign-detail").classList.remove("hidden");
  byId("campaign-detail-title").textContent = `${campaign.name}: results`;
  const spend = report.spend_per_member_cents || {};
  const visits = report.visits_per_member || {};
  byId("campaign-uplift").replaceChildren(Charts.barChart(
    [{ label: "Spend per member", values: [spend.treated || 0, spend.control || 0] }], money,
    ["treated", "control"]), Charts.barChart(
    [{ label: "Visits per member", values: [visits.treated || 0, visits.control || 0] }],
    (value) => value.toFixed(2), ["treated", "control"]));
  byId("campaign-detail-text").textContent = JSON.stringify(report, null, 2);
}

async function campaignAction(campaign, action) {
  byId("campaign-error").textContent = "";
  try {
    const answer = await api("POST", `/v1/campaigns/${campaign.campaign_id}/${action}`);
    if (action === "preview") {
      byId("campaign-detail").classList.remove("hidden");
      byId("campaign-uplift").replaceChildren();
      byId("campaign-detail-title").textContent = `${campaign.name}: preview`;
      byId("campaign-detail-text").textContent = JSON.stringify(answer, null, 2);
    }
    await showCampaigns();
  } catch (error) {
    byId("campaign-error").textContent = error.message;
  }
}

async function showCampaigns() {
  const list = (await api("GET", "/v1/campaigns")).campaigns;
  const actions = { draft: ["preview", "launch"], active: ["pause", "end"], paused: ["launch", "end"] };
  fill("campaigns", list, (row, campaign) => {
    row.dataset.campaign = campaign.campaign_id;
    cell(row, campaign.campaign_id);
    cell(row, campaign.name);
    cell(row, campaign.status, `status status-${campaign.status}`);
    cell(row, campaign.targeted === undefined ? "" : String(campaign.targeted), "number");
    const buttons = cell(row, "");
    for (const action of [...(actions[campaign.status] || []), "report"]) {
      const button = document.createElement("button");
      button.className = "small";
      button.textContent = action === "launch" && campaign.status === "paused" ? "resume" : action;
      button.dataset.action = action;
      button.addEventListener("click", () => action === "report"
        ? showReport(campaign).catch((error) => { byId("campaign-error").textContent = error.message; })
        : campaignAction(campaign, action));
      buttons.append(button);
    }
  });
}

function isoSeconds(date) {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

byId("campaign-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  byId("campaign-error").textContent = "";
  const kind = byId("campaign-kind").value;
  const amount = Number(byId("campaign-amount").value);
  const now = new Date();
  const offer = { kind, valid_from: isoSeconds(now),
                  valid_until: isoSeconds(new Date(now.getTime() + Number(byId("campaign-days").value) * 86400000)) };
  if (kind === "bonus_points") Object.assign(offer, { bonus_points: amount, title: `${amount} bonus points` });
  if (kind === "percent_discount") Object.assign(offer, { discount_percent: amount, title: `${amount}% off` });
  if (kind === "points_multiplier") Object.assign(offer, { multiplier_percent: amount, title: `${amount / 100}x points` });
  const segment = byId("campaign-segment").value;
  try {
    await api("POST", "/v1/campaigns", {
      name: byId("campaign-name").value, control_percent: Number(byId("campaign-control").value),
      target: segment ? { segments: [segment] } : {}, offer,
    });
    byId("campaign-name").value = "";
    await showCampaigns();
  } catch (error) {
    byId("campaign-error").textContent = error.message;
  }
});

async function showDashboard(name) {
  byId("staff-sign-in-panel").classList.add("hidden");
  byId("dashboard").classList.remove("hidden");
  byId("staff-bar").classList.remove("hidden");
  byId("staff-signed-in").textContent = name;
  // Each part on its own, so that one failing (e.g. no run yet) leaves the others shown.
  await Promise.allSettled([showTotals(), showSegmentation(), showCampaigns()]);
  document.body.dataset.loaded = "true";
}

byId("staff-sign-in-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    const staff = await api("POST", "/staff/sign-in",
                            { name: byId("staff-name").value, password: byId("staff-password").value });
    byId("staff-password").value = "";
    await showDashboard(staff.name);
  } catch (error) {
    showSignIn(error.message);
  }
});

byId("staff-sign-out").addEventListener("click", async () => {
  await api("POST", "/staff/sign-out").catch(() => {});
  showSignIn("You are signed out.");
});

fetch("/staff/me", { credentials: "same-origin" }).then(async (response) => {
  if (response.ok) await showDashboard((await response.json()).name);
});
