// Drag across a chart to show that range: the page is reloaded with ?start=&end= (seconds).
// Pages that say data-refresh reload themselves, but never under a technician's typing.
// No inline script anywhere (the CSP): this file is the pages' only script.
"use strict";

function keepFresh() {
  const loaded = Date.now();
  let typed = false;
  document.addEventListener("input", () => { typed = true; });
  setInterval(() => {
    const seconds = Number(document.body.dataset.refresh || 0);
    const active = document.activeElement;
    const busy = typed || (active && ["INPUT", "SELECT", "TEXTAREA"].includes(active.tagName));
    if (seconds && !busy && Date.now() - loaded >= seconds * 1000) window.location.reload();
  }, 1000);
}

document.addEventListener("DOMContentLoaded", () => {
  keepFresh();
  for (const plot of document.querySelectorAll(".plot[data-start]")) {
    const start = Number(plot.dataset.start), end = Number(plot.dataset.end);
    let from = null;
    const band = document.createElement("div");
    band.className = "band";
    plot.appendChild(band);
    const at = (event) => {
      const box = plot.getBoundingClientRect();
      return Math.min(1, Math.max(0, (event.clientX - box.left) / box.width));
    };
    plot.addEventListener("pointerdown", (event) => {
      from = at(event);
      plot.setPointerCapture(event.pointerId);
      event.preventDefault();
    });
    plot.addEventListener("pointermove", (event) => {
      if (from === null) return;
      const to = at(event);
      band.style.left = `${Math.min(from, to) * 100}%`;
      band.style.width = `${Math.abs(to - from) * 100}%`;
      band.style.display = "block";
    });
    plot.addEventListener("pointerup", (event) => {
      if (from === null) return;
      const to = at(event);
      const [low, high] = [Math.min(from, to), Math.max(from, to)];
      from = null;
      band.style.display = "none";
      if (high - low < 0.01) return;
      const url = new URL(window.location.href);
      url.searchParams.delete("range");
      url.searchParams.set("start", String(Math.round(start + low * (end - start))));
      url.searchParams.set("end", String(Math.round(start + high * (end - start))));
      window.location.assign(url.toString());
    });
  }
});
