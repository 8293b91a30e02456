"""Identifier and title normalisation, shared by the clients, de-duplication and the screening import."""

from __future__ import annotations

import html
import re
import unicodedata

_DOI_PREFIX = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/|doi:\s*|info:doi/)", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")


def normalise_doi(value) -> str | None:
    """``10.xxxx/...`` in lower case, without a ``https://doi.org/``, ``http://dx.doi.org/`` or ``doi:`` prefix.

    DOIs are case-insensitive (DOI Handbook §2.4), so lower case is a faithful key. Returns None for anything that
    does not start with ``10.`` once the prefix is removed.
    """
    if value is None:
        return None
    text = str(value).strip()
    text = _DOI_PREFIX.sub("", text).strip().rstrip(".").lower()
    return text if re.fullmatch(r"10\.\S+/\S+", text) else None


def normalise_pmid(value) -> str | None:
    text = str(value or "").strip()
    return text.lstrip("0") or None if re.fullmatch(r"[0-9]{1,10}", text) else None


def normalise_nct(value) -> str | None:
    m = re.fullmatch(r"\s*(nct)\s*([0-9]{8})\s*", str(value or ""), re.IGNORECASE)
    return f"NCT{m.group(2)}" if m else None


def normalise_title(value) -> str:
    """The title reduced to lower-case letters and digits: tags removed, entities decoded, Unicode NFKD with
    combining marks dropped (é -> e), case-folded, every character that is not a letter or digit removed (spaces,
    punctuation, brackets). ``"Inotuzumab ozogamicin: a Phase-2 study."`` -> ``"inotuzumabozogamicinaphase2study"``."""
    text = html.unescape(_TAG.sub(" ", str(value or "")))
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    return "".join(ch for ch in text if ch.isalnum())
