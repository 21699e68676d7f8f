// The resident tablet. The server renders every screen; this script follows the counter through server-sent
// events, fetches the screen again when the session changes, and handles the PIN pad, the review steps, the
// signature pad and the resident's posts. The PIN lives only in one variable while it is typed: never in the
// page, a URL or storage.
(function () {
  "use strict";
  const app = document.getElementById("tablet");
  if (!app) return;
  const main = document.getElementById("screen");
  const status = document.getElementById("status");
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const idleMs = Number(app.dataset.idleSeconds || 120) * 1000;
  const thanksMs = Number(app.dataset.thanksSeconds || 10) * 1000;
  const readingMs = 60 * 1000; // the agent's read command expires after a minute

  let generation = 0; // bumped by every fetch and post: an answer to an older one is dropped
  let busy = false; // a post is on its way: events wait for it
  let hold = null; // a screen the server does not render for the tablet's state: thank-you, card reading
  let pending = null; // the newest event that came while a post was on its way
  let idleTimer = 0;
  let idleKey = null; // the session cleared for idleness: not shown again while it stays unchanged
  let pin = "";
  let probeSeen = null; // the reception and card probe of the last snapshot
  let step = 1;
  let signed = false;

  function screenRoot() {
    return main.querySelector(".screen");
  }

  function keyOf(root) {
    return root ? (root.dataset.receptionNo || "") + ":" + (root.dataset.version || "") : ":";
  }

  function say(message, isError) {
    status.textContent = message || "";
    status.classList.toggle("error", Boolean(isError && message));
  }

  // --- screens ---------------------------------------------------------------------------------------------

  function swap(html, options) {
    const previous = screenRoot();
    const before = previous ? previous.dataset.receptionNo : "";
    // Replaced, not hidden: nothing of a session that left the tablet stays in the page.
    main.innerHTML = html;
    const root = screenRoot();
    document.documentElement.lang = (root && root.dataset.lang) || "ja";
    if (!options || !options.keepStatus) say("");
    armIdle(); // a screen nobody touches goes back to the welcome too
    setup(options && options.step && root && root.dataset.receptionNo === before ? options.step : 1);
  }

  function setup(firstStep) {
    pin = "";
    renderPin();
    const canvas = main.querySelector("canvas.signature");
    if (canvas) setupSignature(canvas);
    showStep(firstStep, false);
    const heading = main.querySelector(".screen-heading");
    if (heading && firstStep === 1) heading.focus({ preventScroll: true });
  }

  async function refresh(options) {
    const mine = ++generation;
    let response;
    try {
      response = await fetch(app.dataset.screenUrl, {
        credentials: "same-origin",
        cache: "no-store",
        headers: { Accept: "text/html" },
      });
    } catch (error) {
      return; // offline: the next event or touch tries again
    }
    if (response.status === 403) {
      window.location.assign(app.dataset.indexUrl); // unpaired or revoked: back to the pairing page
      return;
    }
    if (!response.ok) return;
    const html = await response.text();
    if (mine !== generation) return;
    const incoming = document.createElement("template");
    incoming.innerHTML = html;
    const next = incoming.content.querySelector(".screen");
    const now = screenRoot();
    const same = next && now && keyOf(next) === keyOf(now) && next.dataset.screen === now.dataset.screen;
    if (!same) swap(html, options);
  }

  // What the reader found on the card before the PIN (tries left, locked, no card) arrives after the pad is shown:
  // only the pad's messages change, so digits already typed stay; a locked card replaces the pad altogether.
  async function cardMessages(receptionNo) {
    const now = screenRoot();
    if (!now || now.dataset.receptionNo !== receptionNo) return;
    let response;
    try {
      response = await fetch(app.dataset.screenUrl, { credentials: "same-origin", cache: "no-store", headers: { Accept: "text/html" } });
    } catch (error) {
      return;
    }
    if (!response.ok) return;
    const html = await response.text();
    const incoming = document.createElement("template");
    incoming.innerHTML = html;
    const next = incoming.content.querySelector(".screen");
    const current = screenRoot();
    if (!next || !current || next.dataset.receptionNo !== current.dataset.receptionNo) return;
    const fresh = next.querySelector("[data-card-messages]");
    const shown = current.querySelector("[data-card-messages]");
    if (next.dataset.screen === current.dataset.screen && fresh && shown) shown.innerHTML = fresh.innerHTML;
    else swap(html, { keepStatus: true });
  }

  // The thank-you screen (and the card's "reading" screen) stay until their time is up — or until another
  // session comes, or (``onNewer``) this session changes again, e.g. the card was read.
  function holdScreen(ms, onNewer) {
    const root = screenRoot();
    const mine = { receptionNo: root.dataset.receptionNo, version: Number(root.dataset.version), onNewer: onNewer };
    hold = mine;
    window.setTimeout(function () {
      if (hold !== mine) return;
      hold = null;
      refresh();
    }, ms);
  }

  function holding(data) {
    if (!hold) return false;
    const receptionNo = (data && data.reception_no) || "";
    const other = receptionNo && receptionNo !== hold.receptionNo;
    const newer = hold.onNewer && receptionNo === hold.receptionNo && Number(data.version) > hold.version;
    if (other || newer) hold = null;
    return hold !== null;
  }

  function consider(data) {
    if (busy) {
      pending = data;
      return;
    }
    if (!data || data.type === "tablet") {
      hold = null;
      refresh(); // a pairing was revoked (maybe this one): the server says what to show
      return;
    }
    if (holding(data)) return;
    // The card's tries left come without a new version (pushed, or seen in a snapshot): the PIN being typed stays.
    if (data.kind === "card_probe") {
      cardMessages(data.reception_no);
      return;
    }
    if (data.card_probe !== undefined) {
      const probe = (data.reception_no || "") + JSON.stringify(data.card_probe);
      const changed = probeSeen !== null && probe !== probeSeen;
      probeSeen = probe;
      if (changed && data.reception_no === (screenRoot() || { dataset: {} }).dataset.receptionNo) {
        cardMessages(data.reception_no);
      }
    }
    const key = (data.reception_no || "") + ":" + (data.version || "");
    if (idleKey !== null) {
      if (key === idleKey || key === ":") return;
      idleKey = null;
    }
    if (key !== keyOf(screenRoot())) refresh();
  }

  function drain() {
    const data = pending;
    pending = null;
    if (data) consider(data);
  }

  // --- posts -------------------------------------------------------------------------------------------------

  async function post(url, body) {
    busy = true;
    ++generation;
    try {
      const response = await fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf },
        body: JSON.stringify(body),
      });
      let data = {};
      try {
        data = await response.json();
      } catch (error) {
        data = {};
      }
      return { status: response.status, data: data };
    } catch (error) {
      return { status: 0, data: {} };
    } finally {
      busy = false;
    }
  }

  async function refused(result) {
    const root = screenRoot();
    say(result.data.error || (root && root.dataset.error) || "", true);
    if (result.status === 409 || result.status === 403) await refresh({ keepStatus: true });
  }

  function about() {
    const root = screenRoot();
    return { reception_no: root.dataset.receptionNo, version: Number(root.dataset.version) };
  }

  async function chooseLanguage(code) {
    const keep = step;
    const result = await post(app.dataset.languageUrl, Object.assign(about(), { language: code }));
    if (result.status === 200) await refresh({ step: keep });
    else await refused(result);
    drain();
  }

  async function submitPin() {
    const pad = main.querySelector(".pin");
    if (pin.length !== 4) {
      say(pad.dataset.invalid, true);
      return;
    }
    const body = Object.assign(about(), { pin: pin });
    pin = ""; // the pad clears at once
    renderPin();
    const result = await post(app.dataset.pinUrl, body);
    body.pin = "";
    if (result.status === 200) {
      swap(result.data.html);
      holdScreen(readingMs, true);
    } else await refused(result);
    drain();
  }

  async function confirmSession(button) {
    const canvas = main.querySelector("canvas.signature");
    if (canvas && !signed) {
      say(canvas.dataset.needed, true);
      return;
    }
    button.disabled = true;
    const body = Object.assign(about(), { signature: canvas ? canvas.toDataURL("image/png") : "" });
    const result = await post(app.dataset.confirmUrl, body);
    if (result.status === 200) {
      swap(result.data.html);
      holdScreen(thanksMs, false);
      pending = null;
      return;
    }
    button.disabled = false;
    await refused(result);
    drain();
  }

  // --- PIN pad -----------------------------------------------------------------------------------------------

  function renderPin() {
    const pad = main.querySelector(".pin");
    if (!pad) return;
    pad.querySelectorAll(".pin-box").forEach(function (box, index) {
      box.classList.toggle("filled", index < pin.length);
    });
    const count = pad.querySelector("[data-pin-count]");
    count.textContent = count.dataset.label + ": " + pin.length + "/4";
    pad.querySelector("[data-action=pin-submit]").disabled = pin.length !== 4;
  }

  function typeDigit(digit) {
    if (pin.length < 4) pin += digit;
    say("");
    renderPin();
  }

  // --- review steps and signature ------------------------------------------------------------------------------

  function showStep(n, focus) {
    const steps = main.querySelectorAll(".step");
    if (!steps.length) return;
    step = Math.max(1, Math.min(n, steps.length));
    steps.forEach(function (section) {
      section.hidden = Number(section.dataset.step) !== step;
    });
    const heading = main.querySelector('.step[data-step="' + step + '"] h2');
    if (focus && heading) {
      heading.setAttribute("tabindex", "-1");
      heading.focus();
    }
  }

  function setupSignature(canvas) {
    const context = canvas.getContext("2d");
    context.lineWidth = 7;
    context.lineCap = "round";
    context.lineJoin = "round";
    context.strokeStyle = "#000";
    signed = false;
    let drawing = false;
    function point(event) {
      const box = canvas.getBoundingClientRect();
      return [
        ((event.clientX - box.left) * canvas.width) / box.width,
        ((event.clientY - box.top) * canvas.height) / box.height,
      ];
    }
    canvas.addEventListener("pointerdown", function (event) {
      event.preventDefault();
      drawing = true;
      canvas.setPointerCapture(event.pointerId);
      const [x, y] = point(event);
      context.beginPath();
      context.moveTo(x, y);
      context.lineTo(x + 0.1, y + 0.1);
      context.stroke();
      signed = true;
      say("");
    });
    canvas.addEventListener("pointermove", function (event) {
      if (!drawing) return;
      const [x, y] = point(event);
      context.lineTo(x, y);
      context.stroke();
    });
    ["pointerup", "pointercancel", "lostpointercapture"].forEach(function (name) {
      canvas.addEventListener(name, function () {
        drawing = false;
      });
    });
  }

  function clearSignature() {
    const canvas = main.querySelector("canvas.signature");
    if (!canvas) return;
    canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
    signed = false;
  }

  // --- input ---------------------------------------------------------------------------------------------------

  main.addEventListener("click", function (event) {
    const button = event.target.closest("button");
    if (!button || !main.contains(button) || busy) return;
    if (button.dataset.digit !== undefined) {
      typeDigit(button.dataset.digit);
      return;
    }
    switch (button.dataset.action) {
      case "pin-clear":
        pin = "";
        renderPin();
        break;
      case "pin-submit":
        submitPin();
        break;
      case "next":
        showStep(step + 1, true);
        break;
      case "back":
        showStep(step - 1, true);
        break;
      case "sign-clear":
        clearSignature();
        break;
      case "confirm":
        confirmSession(button);
        break;
      case "language":
        chooseLanguage(button.dataset.language);
        break;
    }
  });

  document.addEventListener("keydown", function (event) {
    if (!main.querySelector(".pin") || busy) return;
    if (/^[0-9]$/.test(event.key)) typeDigit(event.key);
    else if (event.key === "Backspace") {
      pin = pin.slice(0, -1);
      renderPin();
    } else if (event.key === "Enter" && pin.length === 4) {
      event.preventDefault();
      submitPin();
    }
  });

  // --- idle: after a while without a touch the screen goes back to the welcome -------------------------------

  function idle() {
    const root = screenRoot();
    if (!root || root.dataset.screen === "welcome" || busy) return;
    ++generation;
    hold = null;
    pending = null;
    idleKey = keyOf(root);
    swap(document.getElementById("welcome-template").innerHTML);
  }

  function armIdle() {
    window.clearTimeout(idleTimer);
    idleTimer = window.setTimeout(idle, idleMs);
  }

  function touched() {
    armIdle();
    if (idleKey !== null) {
      idleKey = null;
      refresh();
    }
  }

  ["pointerdown", "keydown"].forEach(function (name) {
    document.addEventListener(name, touched, true);
  });

  // --- live updates ----------------------------------------------------------------------------------------------

  function listen() {
    const source = new EventSource(app.dataset.eventsUrl);
    function handle(event) {
      let data;
      try {
        data = JSON.parse(event.data);
      } catch (error) {
        return;
      }
      consider(data);
    }
    ["message", "snapshot", "session", "tablet"].forEach(function (name) {
      source.addEventListener(name, handle);
    });
    source.onerror = function () {
      if (source.readyState !== EventSource.CLOSED) return; // the browser reconnects by itself
      refresh(); // refused (revoked?) or the server is away: ask again, then listen again
      window.setTimeout(listen, 5000);
    };
  }

  setup(1);
  touched();
  listen();
})();
