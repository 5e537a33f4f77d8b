// updraft's dashboard script: no framework, no build step.
// - A form with data-confirm asks before it is sent.
// - A page whose body has data-live is fetched again every 2 seconds and
//   its <main> replaced, until the page says it is no longer live. A log
//   it shows is kept, not fetched again: only what was written after its
//   data-later cursor is asked of the log API and appended.
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
    const log = document.querySelector("#log[data-later]");
    let fresh = await page(log ? "1" : null);
    let kept = fresh && fresh.querySelector("#log[data-keep]");
    if (kept && (!log || log.dataset.try !== kept.dataset.try)) {
      // Another try's log now: this one is of no use, read the page whole.
      fresh = await page(null);
      kept = null;
    }
    if (fresh) {
      const main = fresh.getElementById("main");
      if (main) {
        if (kept) {
          kept.replaceWith(log);
        }
        document.getElementById("main").replaceWith(main);
        if (kept) {
          await tail(log);
        }
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

// This page again, parsed; with `refresh`, without the log it shows.
async function page(refresh) {
  const url = new URL(window.location.href);
  if (refresh) {
    url.searchParams.set("refresh", refresh);
  }
  const answer = await fetch(url);
  return answer.ok ? new DOMParser().parseFromString(await answer.text(), "text/html") : null;
}

// Appends to a shown log what was written after its cursor.
async function tail(log) {
  if (!log || !log.dataset.src || !log.dataset.later) {
    return;
  }
  const url = new URL(log.dataset.src, window.location.href);
  url.searchParams.set("after", log.dataset.later);
  const answer = await fetch(url);
  if (answer.ok) {
    const page = await answer.json();
    if (page.log) {
      log.append(page.log);
    }
    if (page.later) {
      log.dataset.later = page.later;
    }
  }
}

window.setTimeout(refresh, REFRESH_MS);
