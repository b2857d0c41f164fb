"""A page's text as a person reads it: tags dropped, entities decoded, narrow and no-break spaces as
spaces, runs of whitespace as one."""

from __future__ import annotations

import re
from html import unescape

import httpx


def page_text(answer: httpx.Response) -> str:
    text = unescape(re.sub(r"<[^>]+>", " ", answer.text)).replace("\u202f", " ").replace("\xa0", " ")
    return " ".join(text.split())
