"""Safe HTML previews: CommonMark rendered by markdown-it-py, then sanitized by nh3 (ammonia).

Raw HTML in the Markdown is escaped by the renderer, and the sanitizer then keeps only an
allow-list of tags and attributes: no script, no style, no event handlers, only http(s) and
mailto links, every link marked ``rel="nofollow noopener noreferrer"``.
"""

from __future__ import annotations

from functools import lru_cache

import nh3
from markdown_it import MarkdownIt

_TAGS = {
    "a", "p", "br", "hr", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li",
    "h1", "h2", "h3", "h4", "h5", "h6", "img", "del", "s",
}  # fmt: skip
_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "ol": {"start"}}
_SCHEMES = {"http", "https", "mailto"}
_REL = "nofollow noopener noreferrer"


@lru_cache(maxsize=1)
def _renderer() -> MarkdownIt:
    # commonmark preset with raw HTML off: "<script>" in a body is shown as text.
    return MarkdownIt("commonmark", {"html": False}).enable("strikethrough")


def render_preview(markdown: str) -> str:
    """The sanitized HTML of ``markdown``."""
    html = _renderer().render(markdown)
    return nh3.clean(html, tags=_TAGS, attributes=_ATTRIBUTES, url_schemes=_SCHEMES, link_rel=_REL)
