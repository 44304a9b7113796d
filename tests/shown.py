"""What a reader sees of the report's Markdown: user text unescaped (markup.text and code wrap it
in elements and numeric entities), so a test can look for a name or a number in a sentence."""

from __future__ import annotations

import html
import re


def shown(markdown: str) -> str:
    """`markdown` with markup's text and code elements dropped and its entities decoded; the
    rest of the Markdown (`**`, `|`, list dashes) is left as written."""
    return html.unescape(re.sub(r"</?(?:span|code|pre)\b[^>]*>", "", markdown))
