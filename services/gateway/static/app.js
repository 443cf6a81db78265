// voix dashboard: live heatmap. The page works without this script; with it, the heatmap
// table refreshes itself when the sentiment service releases new numbers (server-sent events
// from /events, which relays WatchSentiment with the session's own token).
(function () {
  "use strict";
  var region = document.getElementById("heatmap-region");
  if (!region || !window.EventSource || !window.fetch || !window.DOMParser) {
    return;
  }
  var segment = region.getAttribute("data-live");
  if (!segment) {
    return; // a past week does not change
  }
  var status = document.getElementById("live-status");
  var timer = null;

  function refresh() {
    timer = null;
    fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (resp) {
        if (!resp.ok) {
          throw new Error("HTTP " + resp.status);
        }
        return resp.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("heatmap-region");
        if (fresh) {
          region.innerHTML = fresh.innerHTML;
        }
        var cards = doc.querySelector(".cards");
        var old = document.querySelector(".cards");
        if (cards && old) {
          old.innerHTML = cards.innerHTML;
        }
        if (status) {
          status.textContent = region.getAttribute("data-updated") || "";
        }
      })
      .catch(function () {
        // The next update tries again.
      });
  }

  var events = new EventSource("/events?segment=" + encodeURIComponent(segment));
  events.addEventListener("update", function () {
    if (timer === null) {
      timer = window.setTimeout(refresh, 400);
    }
  });
  window.addEventListener("pagehide", function () {
    events.close();
  });
})();
