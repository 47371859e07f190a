// Small progressive enhancements; every page works without them.
(function () {
  "use strict";

  function fillTimezones() {
    // Registration and profile forms learn the browser's time zone.
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    document.querySelectorAll("input[type=hidden][name=timezone]").forEach(function (input) {
      if (!input.value && zone) input.value = zone;
    });
    var firstVisit = document.cookie.indexOf("bw_tz=") === -1;
    if (zone && firstVisit) {
      document.cookie = "bw_tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; samesite=lax";
    }
    // The first page was drawn before we knew the browser's zone: draw it again in that zone,
    // keeping everything the address asked for (a deep link's date, "show all"...).
    var select = document.querySelector("select[data-remember-url]");
    if (zone && firstVisit && select && select.value !== zone && location.search.indexOf("tz=") === -1) {
      var url = new URL(location.href);
      url.searchParams.set("tz", zone);
      location.replace(url.toString());
    }
  }

  // Back and Forward: htmx puts back its copy of the page, taken as the page left that
  // address, when the pickers already showed the next choice. So the choices each address
  // was shown with are noted once its page has settled, and put back with the copy; an
  // address not noted here (a reload since) takes its choices from its query string.
  var choicesByUrl = {};

  function pickers() {
    return Array.prototype.slice.call(document.querySelectorAll("form[hx-push-url] select[name]"));
  }

  function noteChoices() {
    var out = {};
    pickers().forEach(function (sel) { out[sel.name] = sel.value; });
    choicesByUrl[location.href] = out;
  }

  function restoreChoices() {
    var noted = choicesByUrl[location.href], params = new URLSearchParams(location.search);
    pickers().forEach(function (sel) {
      var value = noted ? noted[sel.name] : params.get(sel.name);
      if (value === undefined || value === null) return;
      if (Array.prototype.some.call(sel.options, function (o) { return o.value === value; })) sel.value = value;
    });
  }

  // A day strip wider than the screen (phones) shows its chosen day, not only its first ones.
  function showChosenDays() {
    document.querySelectorAll(".date-strip").forEach(function (strip) {
      var day = strip.querySelector(".day.active");
      if (day && strip.scrollWidth > strip.clientWidth) {
        strip.scrollLeft = day.offsetLeft - strip.offsetLeft - (strip.clientWidth - day.offsetWidth) / 2;
      }
    });
  }

  // A form sent back with mistakes: put the keyboard (and a screen reader) on the first one.
  function focusFirstError() {
    var first = document.querySelector("form [aria-invalid=true]");
    if (first && typeof first.focus === "function") first.focus();
  }

  function rememberZoneChoice() {
    var select = document.querySelector("select[data-remember-url]");
    if (!select) return;
    select.addEventListener("change", function () {
      var body = new URLSearchParams({ tz: select.value });
      var token = document.querySelector("meta[name=csrf-token]");
      fetch(select.dataset.rememberUrl, {
        method: "POST", body: body, credentials: "same-origin",
        headers: { "X-CSRFToken": token ? token.content : "" },
      });
    });
  }

  // A hold's countdown: mm:ss until expiry, then a clear message.
  function startCountdowns() {
    document.querySelectorAll("[data-countdown-until]").forEach(function (el) {
      var until = Date.parse(el.dataset.countdownUntil);
      var out = el.querySelector(".countdown");
      function tick() {
        var left = Math.max(0, Math.round((until - Date.now()) / 1000));
        out.textContent = Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
        if (left <= 0) {
          el.classList.add("expired");
          el.setAttribute("role", "alert");  // a timer is not read out; its end must be
          el.textContent = el.dataset.expiredText;
          document.querySelectorAll("form button[type=submit]").forEach(function (b) { b.disabled = true; });
          return;
        }
        setTimeout(tick, 1000);
      }
      tick();
    });
  }

  // Live updates: one WebSocket, the union of the page's channels; an event makes the
  // element that follows that channel refetch itself (hx-trigger="bookwell:refresh").
  var socket = null, wanted = "", retry = 0, timer = null;

  function liveElements() {
    return Array.prototype.filter.call(document.querySelectorAll("[data-live-channels]"), function (el) {
      return el.dataset.liveChannels;
    });
  }

  function channelsOnPage() {
    var all = {};
    liveElements().forEach(function (el) {
      el.dataset.liveChannels.split(",").forEach(function (c) { if (c) all[c] = true; });
    });
    return Object.keys(all).sort();
  }

  function refresh(channel) {
    liveElements().forEach(function (el) {
      if (!channel || el.dataset.liveChannels.split(",").indexOf(channel) !== -1) {
        if (window.htmx) window.htmx.trigger(el, "bookwell:refresh");
      }
    });
  }

  function refreshStale(current) {
    liveElements().forEach(function (el) {
      var drawn = {};
      try { drawn = JSON.parse(el.dataset.liveVersion || "{}"); } catch (e) { drawn = {}; }
      var stale = Object.keys(drawn).some(function (channel) {
        return channel in current && current[channel] !== drawn[channel];
      });
      if (stale && window.htmx) window.htmx.trigger(el, "bookwell:refresh");
    });
  }

  function connect() {
    var channels = channelsOnPage();
    wanted = channels.join(",");
    if (!channels.length || !window.WebSocket) return;
    // under the page's own prefix (/o/<slug>: the socket serves that clinic, as the page does)
    var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + (document.body.dataset.wsPath || "/ws");
    var reconnecting = retry > 0;
    socket = new WebSocket(url);
    socket.onopen = function () {
      socket.send(JSON.stringify({ subscribe: channels }));
    };
    socket.onmessage = function (message) {
      var data = JSON.parse(message.data);
      if (data.subscribed) {
        document.body.dataset.live = "connected";
        if (reconnecting) {
          refresh(null);  // we may have missed events while away
        } else {
          refreshStale(data.versions || {});  // changes between drawing the page and connecting
        }
        retry = 0;
      } else if (data.channel) {
        refresh(data.channel);
      }
    };
    socket.onclose = function () {
      document.body.dataset.live = "disconnected";
      socket = null;
      if (!channelsOnPage().length) return;
      retry = Math.min(retry + 1, 6);
      var delay = Math.min(30000, 500 * Math.pow(2, retry)) * (0.75 + Math.random() / 2);
      clearTimeout(timer);
      timer = setTimeout(connect, delay);
    };
  }

  function resubscribeIfChanged() {
    if (channelsOnPage().join(",") === wanted) return;
    if (socket) { socket.onclose = null; socket.close(); socket = null; }
    retry = 0;
    connect();
  }

  // Forms that ask before they act (data-confirm): no inline handlers, the CSP forbids them.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) event.preventDefault();
  });

  // Copy buttons (data-copy-from="#id") and fields that select themselves (data-select-on-click).
  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!target.closest) return;
    var field = target.closest("[data-select-on-click]");
    if (field) field.select();
    var button = target.closest("[data-copy-from]");
    if (!button) return;
    var source = document.querySelector(button.dataset.copyFrom);
    if (source && navigator.clipboard) {
      navigator.clipboard.writeText(source.value).then(function () { button.textContent = "Copied"; });
    } else if (source) {
      source.select();
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    fillTimezones();
    focusFirstError();
    showChosenDays();
    document.body.addEventListener("htmx:afterSettle", showChosenDays);
    rememberZoneChoice();
    startCountdowns();
    connect();
    document.body.addEventListener("htmx:afterSettle", resubscribeIfChanged);
    noteChoices();
    document.body.addEventListener("htmx:afterSettle", function (event) {
      if (event.detail && event.detail.elt && event.detail.elt.closest && !event.detail.elt.closest("#results, #times-page")) return;
      noteChoices();
    });
    document.body.addEventListener("htmx:historyRestore", restoreChoices);
    // weekly hours editor: a day that is switched off hides its times (on phones)
    document.body.addEventListener("change", function (event) {
      var row = event.target.closest && event.target.closest(".hours-works") && event.target.closest("tr");
      if (row) row.classList.toggle("is-off", !event.target.checked);
    });
  });
})();
