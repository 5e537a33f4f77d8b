// updraft's dashboard script: no framework, no build step.
// - A form with data-confirm asks before it is sent.
// - A page whose body has data-live is fetched again every 2 seconds and
//   its <main> replaced, until the page says it is no longer live.
"use strict";

document.addEventListener("submit", (event) => {
  const question = event.target.dataset.confirm;
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

const REFRESH_MS = 2000;

async function refresh() {
  if (!document.body.dataset.live) {
    return;
  }
  try {
    const answer = await fetch(window.location.href, { headers: { "X-Updraft-Refresh": "1" } });
    if (answer.ok) {
      const fresh = new DOMParser().parseFromString(await answer.text(), "text/html");
      const main = fresh.getElementById("main");
      if (main) {
        document.getElementById("main").replaceWith(main);
      }
      if (!fresh.body.dataset.live) {
        delete document.body.dataset.live;
      }
    }
  } catch (_) {
    // The server went away for a moment: try again at the next beat.
  }
  window.setTimeout(refresh, REFRESH_MS);
}

window.setTimeout(refresh, REFRESH_MS);
