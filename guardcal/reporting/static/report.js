// report.html: a table of contents from the section headings, and the print layout (a table too
// wide for the page is split into groups of columns, each repeating the row-label column).
(function () {
  "use strict";

  function buildToc() {
    if (document.getElementById("toc")) return;
    const headings = [...document.querySelectorAll(".jp-MarkdownCell h2[id]")];
    const first = document.querySelector(".jp-MarkdownCell h1");
    if (!headings.length || !first) return;
    const nav = document.createElement("nav");
    nav.id = "toc";
    const title = document.createElement("h2");
    title.textContent = "Contents";
    nav.appendChild(title);
    const list = document.createElement("ol");
    for (const h of headings) {
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = "#" + h.id;
      link.textContent = h.textContent.replace(/¶$/, "").trim();
      item.appendChild(link);
      list.appendChild(item);
    }
    nav.appendChild(list);
    // after the title and the task, before the first section
    const cell = headings[0].closest(".jp-Cell");
    cell.parentNode.insertBefore(nav, cell);
  }

  function columnsOf(table) {
    // a table the split understands: one cell per column in every row (no spans)
    const rows = [...table.rows];
    const n = rows.length ? rows[0].cells.length : 0;
    const simple = rows.every((r) => r.cells.length === n &&
      [...r.cells].every((c) => c.colSpan === 1 && c.rowSpan === 1));
    return simple ? n : 0;
  }

  function partOf(table, columns, caption) {
    const part = table.cloneNode(true);
    part.removeAttribute("id");
    part.classList.add("column-group");
    for (const row of part.rows) {
      [...row.cells].forEach((cell, i) => { if (!columns.includes(i)) cell.remove(); });
    }
    const old = part.querySelector("caption");
    if (old) old.remove();
    if (caption) part.insertBefore(caption, part.firstChild);
    return part;
  }

  function splitWide(table) {
    const width = table.parentElement.clientWidth;
    if (table.scrollWidth <= width + 1) return;
    const n = columnsOf(table);
    if (n < 3) return;
    const groups = [];
    let current = [];
    for (let i = 1; i < n; i++) {
      const trial = partOf(table, [0, ...current, i], null);
      table.parentElement.appendChild(trial);
      const fits = trial.scrollWidth <= width + 1;
      trial.remove();
      if (fits || !current.length) { current.push(i); } else { groups.push(current); current = [i]; }
    }
    groups.push(current);
    if (groups.length < 2) return;
    const caption = table.querySelector("caption");
    const parts = groups.map((g, k) => {
      let c = null;
      if (caption) {
        c = caption.cloneNode(true);
        if (k > 0) c.classList.add("continued");
      }
      return partOf(table, [0, ...g], c);
    });
    parts[0].id = table.id;
    table.classList.add("split-for-print");
    table.style.display = "none";
    for (const part of parts) table.parentElement.insertBefore(part, table);
  }

  function unsplit() {
    document.querySelectorAll("table.column-group").forEach((t) => t.remove());
    document.querySelectorAll("table.split-for-print").forEach((t) => {
      t.classList.remove("split-for-print");
      t.style.display = "";
    });
  }

  // The renderer calls this with print media emulated at the page's width; a reader's own
  // browser calls it before printing.
  window.guardcalPrintLayout = function () {
    unsplit();
    document.querySelectorAll(".jp-OutputArea-output table").forEach(splitWide);
  };
  window.addEventListener("beforeprint", () => {
    if (!document.querySelector("table.split-for-print")) window.guardcalPrintLayout();
  });
  window.addEventListener("afterprint", unsplit);

  buildToc();
  // What the renderer and the browser tests wait for: MathJax has typeset, every image decoded.
  const typeset = window.MathJax && MathJax.startup ? MathJax.startup.promise : Promise.resolve();
  window.guardcalReady = typeset
    .then(() => Promise.all([...document.images].map((img) => img.decode().catch(() => null))))
    .then(() => true);
})();
