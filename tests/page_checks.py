"""What the browser tests measure in a rendered page: JavaScript run in headless Chromium (through
guardcal's own DevTools client), each returning the offending elements, so a failure names them.
"""

from __future__ import annotations

from typing import Any

from guardcal.reporting.browser import Page

CHECKS = r"""
window.guardcalChecks = {
  label(e) {
    const caption = e.querySelector && e.querySelector("caption, figcaption");
    return (e.id || (caption && caption.textContent) || e.textContent || "").trim().slice(0, 80);
  },
  // elements that clip or scroll their content (MathJax's hidden assistive copy aside)
  cut(root) {
    return [...root.querySelectorAll("*")].filter((e) => {
      if (e.closest("aside.notes, mjx-container, script, style")) return false;
      const s = getComputedStyle(e);
      return (e.scrollHeight > e.clientHeight + 1 && s.overflowY !== "visible") ||
             (e.scrollWidth > e.clientWidth + 1 && s.overflowX !== "visible");
    }).map((e) => e.tagName.toLowerCase() + " " + this.label(e));
  },
  // tables wider than the page, or inside something that scrolls or clips them
  tableOverflows() {
    const page = document.documentElement.clientWidth;
    return [...document.querySelectorAll("table")]
      .filter((t) => t.offsetParent !== null)
      .filter((t) => {
        const box = t.getBoundingClientRect();
        let clipped = false;
        for (let e = t.parentElement; e; e = e.parentElement) {
          if (e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX !== "visible") {
            clipped = true;
          }
        }
        return clipped || box.right > page + 1 || box.left < -1;
      })
      .map((t) => this.label(t));
  },
  brokenImages() {
    return [...document.images].filter((i) => !i.complete || i.naturalWidth === 0)
      .map((i) => i.alt || i.src.slice(0, 60));
  },
  // text a reader sees that still looks like TeX: $…$, \( \[ or a control word
  rawTex() {
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    const tex = /\$[^$\s][^$]*\$|\\\(|\\\[|\\[a-zA-Z]{2,}/;
    const found = [];
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (node.parentElement.closest(
        "script, style, code, pre, mjx-container, .mathjax_ignore, aside.notes")) continue;
      if (tex.test(node.textContent)) found.push(node.textContent.trim().slice(0, 80));
    }
    return found;
  },
  typeset() { return document.querySelectorAll("mjx-container").length; },
  // every slide of the deck, shown one after the other as a presenter would
  slides() {
    const [width, height] = window.guardcalSlideSize;
    const shown = (s, sel) => [...s.querySelectorAll(sel)].filter((e) => !e.closest("aside.notes"));
    const out = Reveal.getSlides().map((s) => {
      const at = Reveal.getIndices(s);
      Reveal.slide(at.h, at.v);
      return {
        at: `${at.h}/${at.v || 0}`,
        title: (s.querySelector("h1, h2, h3") || {textContent: ""}).textContent
          .replace("¶", "").trim(),
        overflow: s.scrollHeight > height + 1 || s.scrollWidth > width + 1,
        cut: this.cut(s),
        figures: shown(s, "img").length,
        tables: shown(s, "table").length,
        bullets: shown(s, "li").map((li) => li.textContent.trim()),
        notes: !!s.querySelector("aside.notes"),
      };
    });
    Reveal.slide(0, 0);
    return out;
  },
};
true
"""


def run(page: Page, check: str) -> Any:
    """One of CHECKS' functions on the page (installed on first use)."""
    if not page.evaluate("!!window.guardcalChecks"):
        page.evaluate(CHECKS)
    return page.evaluate(f"window.guardcalChecks.{check}()")
