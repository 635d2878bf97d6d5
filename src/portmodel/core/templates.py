"""Rule templates: `{name}` filled with source text, `[?...?]` kept only where an argument
in it was given (`rules/ops/*.yaml`, `rules/training/*.yaml`)."""

from __future__ import annotations

import re

_OPTIONAL = re.compile(r"\[\?(.*?)\?\]")


def fill(template: str, texts: dict[str, str], given: set[str]) -> str:
    """Fill {name}s; an optional `[?...?]` part stays only if an argument in it was given."""

    def optional(m: re.Match) -> str:
        names = re.findall(r"\{(\w+)\}", m.group(1))
        return m.group(1) if any(n in given for n in names) else ""

    return _OPTIONAL.sub(optional, template).format_map(texts)
