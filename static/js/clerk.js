// The clerk screen's live part: server-sent events from the session (or the desk) push every change — a tablet
// confirmation, a card read, a print, a ticket — and the page reloads what changed; a snapshot on (re)connect and
// at each heartbeat catches what a dropped connection missed. Nothing polls.
(function () {
  "use strict";
  const live = document.getElementById("live");
  if (!live) return;
  let dirty = false;
  let sending = false; // a form is being sent: its answer is the next page, a reload would cut it short
  document.addEventListener("input", function (event) {
    if (event.target.closest("form")) dirty = true;
  });
  document.addEventListener("submit", function () { dirty = false; sending = true; });

  let known = null;
  function onSnapshot(data) {
    const text = JSON.stringify(data);
    if (known === null) {
      known = text;
      // The page was rendered at data-version; a change between render and connect shows at once — the card's
      // tries left too, which come without a new version.
      if (live.dataset.version && data.version !== undefined && String(data.version) !== live.dataset.version) refresh();
      else if (data.card_probe !== undefined && live.dataset.cardProbe && JSON.stringify(data.card_probe) !== live.dataset.cardProbe) refresh();
      return;
    }
    if (text !== known) {
      known = text;
      refresh();
    }
  }
  function refresh() {
    if (sending) return;
    if (dirty) {
      let banner = document.getElementById("live-banner");
      if (!banner) {
        banner = document.createElement("p");
        banner.id = "live-banner";
        banner.className = "notice";
        banner.setAttribute("role", "status");
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = live.dataset.reloadLabel || "更新があります — 再表示";
        button.addEventListener("click", function () { window.location.reload(); });
        banner.appendChild(button);
        live.appendChild(banner);
      }
      return;
    }
    window.location.reload();
  }
  const source = new EventSource(live.dataset.events);
  source.addEventListener("snapshot", function (event) { onSnapshot(JSON.parse(event.data)); });
  // A change pushed by the server (a session moved on, a ticket issued, a tablet revoked): reload, unless the page
  // already shows that version of its session.
  function onChange(event) {
    let data = {};
    try { data = JSON.parse(event.data); } catch (error) { /* a change all the same */ }
    // The card's tries left (kind card_probe) come without a new version: the page shows them too.
    const probe = data.kind === "card_probe" && data.reception_no === live.dataset.receptionNo;
    if (!probe && live.dataset.version && data.version !== undefined && Number(data.version) <= Number(live.dataset.version)) return;
    refresh();
  }
  ["session", "queue", "tablet"].forEach(function (name) { source.addEventListener(name, onChange); });

  // The interview shows the questions of the life events ticked.
  const interview = document.querySelector("form.interview");
  if (interview) {
    const sync = function () {
      const chosen = Array.from(interview.querySelectorAll("input[name=life_event]:checked")).map((box) => box.value);
      interview.querySelectorAll(".question").forEach(function (question) {
        const events = question.dataset.events.split(" ");
        question.hidden = !events.some((code) => chosen.includes(code));
        // A hidden question is not asked: its inputs are not sent.
        question.querySelectorAll("input, select").forEach((input) => { input.disabled = question.hidden; });
      });
    };
    interview.addEventListener("change", sync);
    sync();
  }
  const qr = document.querySelector("[data-testid=qr-input]");
  if (qr && !document.querySelector(".search input:not([type=hidden])[value]:not([value=''])")) qr.focus();
})();
