// Follows a print job by long polling: the server answers as soon as the status changes.
(function () {
  "use strict";
  const box = document.getElementById("print-status");
  if (!box) return;
  const label = box.querySelector("[data-testid=print-status]");
  const message = box.querySelector(".message");
  let known = box.dataset.known;
  async function follow() {
    while (known === "queued") {
      try {
        const response = await fetch(box.dataset.url + "?known=" + encodeURIComponent(known), {
          headers: { Accept: "application/json" }, credentials: "same-origin",
        });
        if (!response.ok) throw new Error(String(response.status));
        const data = await response.json();
        known = data.status;
        label.textContent = data.label;
        label.className = "status-" + data.status;
        message.textContent = data.message;
      } catch (error) {
        await new Promise((resolve) => setTimeout(resolve, 3000));
      }
    }
  }
  follow();
})();
