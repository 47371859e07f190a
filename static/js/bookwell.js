// Small progressive enhancements; every page works without them.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    // Registration and profile forms learn the browser's time zone.
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    document.querySelectorAll('input[type=hidden][name=timezone]').forEach(function (input) {
      if (!input.value && zone) input.value = zone;
    });
  });
})();
