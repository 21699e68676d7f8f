// The counter PC's card-login page: waits for a staff card tap pushed over server-sent events, then shows the
// name of the card's user and the PIN field. A reload every 30 seconds while waiting is the fallback for a lost
// stream; the browser reconnects the stream by itself otherwise. An expired tap disappears with the next snapshot
// (the stream's heartbeat), not by the PC's clock, which may be off.
(function () {
  "use strict";
  const page = document.getElementById("card-login");
  if (!page || !page.dataset.events) return;
  const refusals = JSON.parse(document.getElementById("card-login-refusals").textContent);
  const wait = document.getElementById("card-login-wait");
  const form = document.getElementById("card-login-pin");
  const error = document.getElementById("card-login-error");
  const pin = form.querySelector("input[name=pin]");

  function waitForTap(message) {
    form.hidden = true;
    form.querySelector("input[name=token]").value = "";
    pin.value = "";
    wait.hidden = false;
    if (message !== undefined) {
      error.textContent = message;
      error.hidden = !message;
    }
  }

  function askPin(tap) {
    const shown = form.querySelector("input[name=token]").value;
    if (!tap.token) {
      if (shown) waitForTap(); // the tap shown has expired, been used or been replaced by another
      return;
    }
    if (shown === tap.token) return; // already shown (rendered by the server, or a repeated snapshot)
    document.getElementById("card-login-name").textContent = tap.name;
    document.getElementById("card-login-id").textContent = tap.login_id;
    form.querySelector("input[name=token]").value = tap.token;
    pin.value = "";
    error.hidden = true;
    wait.hidden = true;
    form.hidden = false;
    pin.focus();
  }

  const source = new EventSource(page.dataset.events);
  source.addEventListener("snapshot", (event) => askPin(JSON.parse(event.data)));
  source.addEventListener("card.tapped", (event) => askPin(JSON.parse(event.data)));
  source.addEventListener("card.refused", (event) => {
    const data = JSON.parse(event.data);
    waitForTap(refusals[data.reason] || "");
  });
  document.getElementById("card-login-cancel").addEventListener("click", () => waitForTap(""));
  if (!form.hidden) pin.focus();
  setInterval(() => {
    if (form.hidden) window.location.reload();
  }, 30000);
})();
