"""Validation of the names users give to models, deployments and actors.

A name must be referenceable again later: model and deployment names are 1–200 characters of
letters, digits, '.', '_', '-' and '/', starting with a letter or digit (so never a newline, a
space, '@' or ':', which references use as separators). Free-text labels (actor, reason) must
be printable single-line text of bounded length.
"""

from __future__ import annotations

import re

from driftline.errors import InvalidInputError

NAME_MAX = 200
TEXT_MAX = 2000
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-/]*")


def check_name(name: object, what: str = "model name") -> str:
    """Return ``name`` if it is a valid model/deployment name, else raise InvalidInputError."""
    if not isinstance(name, str) or len(name) > NAME_MAX or not _NAME_RE.fullmatch(name):
        shown = (
            repr(name[:60] + ("…" if len(name) > 60 else ""))
            if isinstance(name, str)
            else type(name).__name__
        )
        raise InvalidInputError(
            f"bad {what} {shown}: use 1-{NAME_MAX} letters, digits, '.', '_', '-' or '/', "
            "starting with a letter or digit"
        )
    return name


def check_text(text: object, what: str, limit: int = TEXT_MAX) -> str:
    """Return ``text`` if it is printable single-line text of at most ``limit`` characters."""
    if not isinstance(text, str) or len(text) > limit or not text.isprintable():
        raise InvalidInputError(
            f"bad {what}: use printable text on one line, at most {limit} characters"
        )
    return text
