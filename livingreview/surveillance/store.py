"""Raw responses on disk, and the all-or-nothing write of the surveillance files.

**Envelope.** Every page a run fetched is kept verbatim in one file, ``search_responses/<run_id>.json.gz``: a gzip
(``mtime`` 0, so the same pages give the same bytes) of the JSON document ::

    {"format": "livingreview.search_responses/1", "run_id": ..., "source": ...,
     "pages": [{"n": 1, "endpoint": "esearch", "url": "https://...", "params": [["db", "pubmed"], ...],
                "sha256": "<of the body bytes>", "encoding": "utf-8", "body": "<the response, verbatim>"}, ...]}

``encoding`` is ``base64`` for a body that is not UTF-8. ``params`` never contain ``email``, ``tool`` or
``api_key``. ``response_sha256`` in search_runs.csv is the SHA-256 of the ``.json.gz`` file's bytes.

**Atomic write.** ``Staging`` collects every file a command writes; ``commit()`` first writes each to a temporary
file beside its target (a failure here removes them: nothing changed), then renames them over their targets,
restoring the originals if a rename fails.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import shutil
from pathlib import Path

from livingreview.surveillance.sources import RawPage
from livingreview.surveillance.transport import Request

FORMAT = "livingreview.search_responses/1"


def envelope_bytes(run_id: str, source: str, pages) -> bytes:
    out = []
    for n, page in enumerate(pages, 1):
        try:
            body, encoding = page.body.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            body, encoding = base64.b64encode(page.body).decode("ascii"), "base64"
        out.append({"n": n, "endpoint": page.request.endpoint, "url": page.request.url,
                    "params": page.request.recorded_params(), "sha256": hashlib.sha256(page.body).hexdigest(),
                    "encoding": encoding, "body": body})
    doc = {"format": FORMAT, "run_id": run_id, "source": source, "pages": out}
    raw = json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8")
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(raw)
    return buf.getvalue()


def read_envelope(path: Path) -> tuple[dict, list[RawPage]]:
    """The envelope document and its pages (bodies as bytes, each checked against its sha256)."""
    with gzip.open(path, "rb") as fh:
        doc = json.loads(fh.read().decode("utf-8"))
    pages = []
    for p in doc["pages"]:
        body = base64.b64decode(p["body"]) if p.get("encoding") == "base64" else p["body"].encode("utf-8")
        if hashlib.sha256(body).hexdigest() != p["sha256"]:
            raise ValueError(f"{path}: page {p['n']} does not match its sha256")
        pages.append(RawPage(Request(doc["source"], p["endpoint"], p["url"],
                                     tuple((k, v) for k, v in p["params"])), body))
    return doc, pages


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Staging:
    """Files to write together: ``put(path, bytes)`` then ``commit()``."""

    def __init__(self):
        self.files: dict[Path, bytes] = {}

    def put(self, path: Path | str, data: bytes) -> None:
        self.files[Path(path)] = data

    def commit(self) -> list[Path]:
        tmp: dict[Path, Path] = {}
        made_dirs: list[Path] = []
        try:
            for target, data in self.files.items():
                if not target.parent.exists():
                    missing = [p for p in [target.parent, *target.parent.parents] if not p.exists()]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    made_dirs += sorted(missing, key=lambda p: len(p.parts), reverse=True)
                t = target.with_name(f".{target.name}.tmp-{os.getpid()}")
                with open(t, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                tmp[target] = t
        except BaseException:
            for t in tmp.values():
                t.unlink(missing_ok=True)
            for d in made_dirs:
                try:
                    d.rmdir()
                except OSError:
                    pass
            raise
        backups: dict[Path, Path | None] = {}
        try:
            for target, t in tmp.items():
                if target.exists():
                    b = target.with_name(f".{target.name}.bak-{os.getpid()}")
                    try:
                        os.link(target, b)  # the target never disappears: a hard link keeps the original
                    except OSError:
                        shutil.copy2(target, b)
                    backups[target] = b
                else:
                    backups[target] = None
                os.replace(t, target)
        except BaseException:
            for target, b in backups.items():
                if b is None:
                    target.unlink(missing_ok=True)
                else:
                    os.replace(b, target)
            for t in tmp.values():
                t.unlink(missing_ok=True)
            raise
        for b in backups.values():
            if b is not None:
                b.unlink(missing_ok=True)
        return list(tmp)
