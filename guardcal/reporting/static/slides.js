// slides.html: start reveal.js once MathJax has typeset, after shrinking every slide whose
// content is taller or wider than the 1280×720 slide (down to half size), so nothing is cut off
// or scrolled; ?print-pdf lays the deck out for printing (slides.pdf).
(function () {
  "use strict";
  const [WIDTH, HEIGHT] = window.guardcalSlideSize || [1280, 720];
  const SMALLEST = 0.5;

  function overflows(section) {
    return section.scrollHeight > HEIGHT + 1 || section.scrollWidth > WIDTH + 1;
  }

  const READABLE = 0.7;

  function shownWhile(section, measure) {
    // a slide is measured while shown, with the stack of vertical slides it belongs to
    const stack = [section, section.parentElement].filter((e) => e.tagName === "SECTION");
    const shown = stack.map((e) => e.style.display);
    stack.forEach((e) => { e.style.display = "block"; });
    try { return measure(); } finally { stack.forEach((e, k) => { e.style.display = shown[k]; }); }
  }

  function shrink(section, smallest) {
    let scale = Number(section.style.getPropertyValue("--fit") || 1);
    while (overflows(section) && scale > smallest) {
      scale = Math.round((scale - 0.05) * 100) / 100;
      section.style.setProperty("--fit", String(scale));
    }
  }

  function splitRows(section) {
    // a table too long for one slide continues on the next ones, its header repeated
    const tables = section.querySelectorAll("table");
    if (tables.length !== 1 || !tables[0].tBodies.length) return;
    const body = tables[0].tBodies[0];
    const rows = [...body.rows];
    let current = section;
    body.replaceChildren();
    for (const row of rows) {
      const tbody = current.querySelector("table").tBodies[0];
      tbody.appendChild(row);
      if (overflows(current) && tbody.rows.length > 1) {
        row.remove();
        const next = section.cloneNode(true);
        next.removeAttribute("id");
        next.classList.add("continued");
        next.querySelector("table").tBodies[0].replaceChildren(row);
        current.after(next);
        current.style.display = "";
        current = next;
        current.style.display = "block";
      }
    }
    current.style.display = "";
  }

  function fit(section) {
    shownWhile(section, () => {
      section.style.setProperty("--fit", "1");
      shrink(section, READABLE);
      if (overflows(section)) splitRows(section);
    });
    // the slide and any continuation of its table: smaller type as a last resort
    let part = section;
    do {
      const current = part;
      shownWhile(current, () => shrink(current, SMALLEST));
      part = part.nextElementSibling;
    } while (part && part.classList.contains("continued"));
  }

  function leaves() {
    return [...document.querySelectorAll(".reveal .slides section")]
      .filter((s) => !s.querySelector("section"));
  }

  function start() {
    const slides = document.querySelector(".reveal .slides");
    slides.style.width = WIDTH + "px";
    leaves().forEach(fit);
    const printing = /print-pdf/.test(window.location.search);
    const ready = new Promise((resolve) => {
      Reveal.on(printing ? "pdf-ready" : "ready", () => resolve(true));
    });
    Reveal.on("slidechanged", (event) => {
      if (window.MathJax && MathJax.typesetPromise) MathJax.typesetPromise([event.currentSlide]);
    });
    Reveal.initialize({
      controls: true, progress: true, hash: true, slideNumber: "c/t", transition: "none",
      width: WIDTH, height: HEIGHT, margin: 0.02, center: false,
      pdfMaxPagesPerSlide: 1, pdfSeparateFragments: false,
    });
    return ready;
  }

  // What the renderer and the browser tests wait for: typeset, fitted, reveal.js started.
  const typeset = window.MathJax && MathJax.startup ? MathJax.startup.promise : Promise.resolve();
  window.guardcalReady = typeset.then(start, start);
})();
