// The member page: sign in with card and one-time code, then show /member/me. No inline
// script (the page's Content-Security-Policy forbids it); text goes in with textContent only.
"use strict";

const byId = (id) => document.getElementById(id);

async function postJson(path, body) {
  return fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
    credentials: "same-origin",
  });
}

const kindNames = {
  earn: "Purchase", redeem: "Points spent", earn_reversal: "Return", redeem_refund: "Points refunded",
  expire: "Expired", adjustment: "Adjustment", bonus: "Bonus",
};

function showAccount(member) {
  byId("sign-in-panel").classList.add("hidden");
  byId("account").classList.remove("hidden");
  byId("member-name").textContent = member.name || "member";
  byId("card-ending").textContent = member.card_ending;
  byId("balance").textContent = member.balance.toLocaleString();
  byId("points-spendable").textContent = member.points.toLocaleString();
  byId("points-pending").textContent = member.points_pending.toLocaleString();
  const expiring = member.points_expiring;
  byId("expiring").textContent = expiring && expiring.points > 0
    ? `${expiring.points.toLocaleString()} points expire on ${expiring.date}` : "";
  byId("tier").textContent = member.tier;
  const progress = member.tier_progress || {};
  const needed = progress.spend_needed_cents || 0;
  const spent = progress.qualifying_spend_cents || 0;
  const share = progress.next_tier ? (spent / Math.max(1, spent + needed)) : 1;
  byId("tier-bar").style.width = `${Math.round(100 * share)}%`;
  byId("tier-message").textContent = progress.message || "";
  const offers = byId("offers");
  offers.replaceChildren();
  for (const offer of member.offers) {
    const item = document.createElement("li");
    item.textContent = offer.message || offer.title || offer.offer_id;
    offers.append(item);
  }
  if (member.offers.length === 0) {
    const item = document.createElement("li");
    item.className = "muted";
    item.textContent = "No offers right now.";
    offers.append(item);
  }
  const rows = byId("activity");
  rows.replaceChildren();
  for (const entry of member.activity) {
    const row = document.createElement("tr");
    for (const [text, className] of [[entry.at.slice(0, 10), ""], [kindNames[entry.kind] || entry.kind, ""],
                                      [(entry.points > 0 ? "+" : "") + entry.points, "number"]]) {
      const cell = document.createElement("td");
      cell.textContent = text;
      cell.className = className;
      row.append(cell);
    }
    rows.append(row);
  }
}

function showSignIn(message) {
  byId("account").classList.add("hidden");
  byId("sign-in-panel").classList.remove("hidden");
  byId("sign-in-error").textContent = message || "";
}

async function load() {
  const response = await fetch("/member/me", { credentials: "same-origin" });
  if (response.ok) showAccount(await response.json());
  else showSignIn("");
}

byId("sign-in-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  byId("sign-in-error").textContent = "";
  const response = await postJson("/member/sign-in", {
    card: byId("card").value.replace(/\s+/g, ""), code: byId("code").value.trim(),
  });
  if (response.ok) return load();
  const body = await response.json().catch(() => ({}));
  showSignIn(body.error ? body.error.message : `Sign-in failed (${response.status})`);
});

byId("sign-out").addEventListener("click", async () => {
  await postJson("/member/sign-out", {});
  byId("code").value = "";
  showSignIn("You are signed out.");
});

load();
