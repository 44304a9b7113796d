"""User text in the report, one escaping path per medium.

Model names, the run name, category names, ids, example texts, a guard's answers and file names
come from the user's config and data. In the report's Markdown they are shown as text through
`text` and `code` (every ASCII punctuation a numeric entity, so no Markdown, HTML or link syntax
survives, inside an element MathJax skips, so `$…$` is no formula); `md` fills a Markdown template
with values that way, and `show` displays only what `md`, `text` or `code` built, so an f-string
cannot put user text into the report unescaped. HTML built by hand shows user text through
`html_text`; tables through `tables.table_html` (whose cells Styler escapes, in a table MathJax
skips). LaTeX tables escape through Styler's `escape="latex"`, and figures draw with matplotlib's
mathtext off (`drawing.STYLE`).
"""

from __future__ import annotations

import html
import numbers
import string
from collections.abc import Iterable
from typing import Any

MATH_IGNORE = "tex2jax_ignore mathjax_ignore"
"""The classes MathJax (3: `mathjax_ignore`; Jupyter's older pages: `tex2jax_ignore`) leaves
untypeset, with everything inside."""


class Markdown(str):
    """Markdown whose user text is already escaped: built by `md`, `text` or `code`."""

    def join(self, items: Iterable[object]) -> Markdown:  # type: ignore[override]
        """Items joined by this separator; an item that is not Markdown is shown as text."""
        return Markdown(str.join(self, (_markdown(item) for item in items)))

    def __add__(self, other: object) -> Markdown:  # type: ignore[override]
        """Markdown followed by Markdown; anything else is a TypeError (wrap it in `md` or
        `text`), so no plain string slips into the report through a `+`."""
        if not isinstance(other, Markdown):
            raise TypeError(f"Markdown + {type(other).__name__}: wrap it in markup.md or text")
        return Markdown(str.__add__(self, other))


def _entities(value: str) -> str:
    """Every ASCII punctuation and unprintable character as a numeric character reference:
    Markdown, HTML and table syntax all read it as a plain character."""
    return "".join(
        f"&#{ord(ch)};" if ch in string.punctuation or not ch.isprintable() else ch for ch in value
    )


def text(value: object) -> Markdown:
    """User text shown literally in Markdown: no emphasis, link, tag or formula is made of it."""
    return Markdown(f'<span class="{MATH_IGNORE}">{_entities(str(value))}</span>')


def code(value: object) -> Markdown:
    """User text shown literally in a code font (a file name, an id, a guard's answer)."""
    return Markdown(f"<code>{_entities(str(value))}</code>")


def code_block(value: object) -> Markdown:
    """User text (a command line, say) as a preformatted block, shown literally."""
    return Markdown(f"<pre><code>{_entities(str(value))}</code></pre>")


def html_text(value: object) -> str:
    """User text shown literally inside HTML built by hand (escaped, and left untypeset)."""
    return f'<span class="{MATH_IGNORE}">{html.escape(str(value))}</span>'


def _markdown(value: object) -> Markdown:
    """`value` as Markdown: Markdown as it is, anything else shown as text."""
    return value if isinstance(value, Markdown) else text(value)


class _Formatter(string.Formatter):
    """str.format where values that are not Markdown or numbers are shown as text."""

    def format_field(self, value: Any, format_spec: str) -> Markdown:
        if isinstance(value, Markdown):
            return Markdown(format(str(value), format_spec))
        if isinstance(value, numbers.Number) and not isinstance(value, bool):
            return Markdown(format(value, format_spec))  # digits, signs, `.`, `e`, `%`: inert
        return text(format(str(value), format_spec))


def md(template: str, *values: object, **named: object) -> Markdown:
    """A Markdown `template` (str.format syntax) filled with values: each Markdown value as it
    is, each number formatted, anything else shown as text. `md("- **{}**: ECE {:.3f}", name,
    ece)`; a literal brace in the template is doubled (`$T^\\ast = {:.3f}$`)."""
    return Markdown(_Formatter().vformat(template, values, named))


def show(markdown: Markdown) -> None:
    """Display narrative in a notebook. Only Markdown built by `md`, `text` or `code` is
    accepted: a plain `str` (an f-string) could carry user text in unescaped."""
    if not isinstance(markdown, Markdown):
        raise TypeError(
            f"show() takes Markdown built by markup.md/text/code, not {type(markdown).__name__}: "
            "user text in a plain string would reach the report unescaped"
        )
    from IPython.display import Markdown as Display
    from IPython.display import display

    display(Display(str(markdown)))
