// The demo site's own script. First the stub from the README: calls made before the widget
// has loaded are queued and replayed by it.
window.Rtbox = window.Rtbox || { q: [] };
["open", "close", "setGuest", "setMetadata", "pageVisited", "on"].forEach(function (m) {
  window.Rtbox[m] = window.Rtbox[m] || function () { window.Rtbox.q.push([m, arguments]); };
});

const pages = {
  home: ["Freshly roasted, delivered weekly.", "This is a sample website with the rtbox livechat tag. Open the chat bubble in the corner and say hello: your message reaches the agents' inbox in the rtbox admin, and their replies appear here in real time."],
  pricing: ["Pricing", "Weekly bag: 12 €. Monthly box: 40 €. A page-url trigger matching /pricing/ could offer help right here."],
  contact: ["Contact", "Questions? The chat in the corner is the fastest way to reach us."],
};

function logEvent(name, data) {
  const li = document.createElement("li");
  li.textContent = new Date().toLocaleTimeString() + "  " + name + (data ? "  " + JSON.stringify(data) : "");
  const list = document.getElementById("events");
  if (list) list.prepend(li);
}
["ready", "open", "close", "message", "trigger", "chat-started", "chat-ended"].forEach(function (ev) {
  window.Rtbox.on(ev, function (data) { logEvent(ev, data); });
});

function showPage(name) {
  const [title, text] = pages[name] || pages.home;
  document.getElementById("page-title").textContent = title;
  document.getElementById("page-text").textContent = text;
  document.title = title + " — Northwind Coffee";
}

document.addEventListener("DOMContentLoaded", function () {
  document.getElementById("snippet").textContent =
    '<script src="' + location.origin + '/livechat/widget.js" async></script>';
  document.getElementById("open-chat").addEventListener("click", function () { window.Rtbox.open(); });
  document.getElementById("identify").addEventListener("click", function () {
    window.Rtbox.setGuest({ name: "Demo Visitor", email: "visitor@example.com" });
  });
  document.querySelectorAll("a[data-page]").forEach(function (a) {
    a.addEventListener("click", function (e) {
      e.preventDefault();
      history.pushState({}, "", a.getAttribute("href"));
      showPage(a.dataset.page);
    });
  });
  window.addEventListener("popstate", function () {
    showPage(new URLSearchParams(location.search).get("page") || "home");
  });
  showPage(new URLSearchParams(location.search).get("page") || "home");
  // A widget that never becomes ready is almost always livechat switched off.
  let ready = false;
  window.Rtbox.on("ready", function () { ready = true; });
  setTimeout(function () {
    if (ready) return;
    const note = document.createElement("p");
    note.className = "warn";
    note.textContent = "The chat widget did not start. Is livechat enabled in the admin (Livechat → Settings)? The browser console says more.";
    document.querySelector(".hero").append(note);
  }, 5000);
});
