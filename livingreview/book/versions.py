"""Versions (``notebooks/versions.ipynb``): every published data version — its dates, searches, data hash, how to
cite it and its archived build — and each outcome's estimate across the versions."""

from __future__ import annotations

from dataclasses import dataclass

from IPython.display import HTML, Markdown

from livingreview import format as fmt
from livingreview.book import common, figures
from livingreview.book.common import esc as _esc, raw_table
from livingreview.config import PRIMARY
from livingreview.review import history as hs

READS = ("studies", "reports", "outcome_definitions", "versions", "outcomes", "search_runs", "snapshots")


def _present(value) -> bool:
    return isinstance(value, str) and value != ""


def citation(title: str, authors: str, version: int, date: str, digest: str | None, archive: str | None) -> str:
    """How to cite one data version: the dataset's authors and title (``data/datapackage.json``), the version, its
    freeze date and data hash, and its archived build when one is recorded — never an address made up."""
    parts = [f"{authors}. {title}, data version {version} (frozen {fmt.long_date(date)}"]
    parts.append(f"; SHA-256 {digest}" if digest else "; not frozen")
    parts.append(")." + (f" {archive}" if archive else ""))
    return "".join(parts)


@dataclass(frozen=True)
class VersionsPage:
    ds: object
    upto: int

    def _versions(self):
        v = hs.versions_frame(self.ds)
        return v[v["data_version"] <= self.upto]

    def sentence(self) -> Markdown:
        frozen = hs.frozen_versions(self.ds)
        return Markdown(f"{fmt.plural(len(self._versions()), 'data version')}, "
                        f"{len([v for v in self._versions()['data_version'] if int(v) in frozen])} of them frozen: "
                        f"each frozen version's tables are kept as published in `data/snapshots/`, with their "
                        f"SHA-256 in `data/snapshots.csv`, so its numbers can be recomputed and checked at any time.")

    def table(self) -> HTML:
        from livingreview.dataset.package import load_package

        descriptor = load_package()[0]
        title = descriptor.get("title", "")
        authors = ", ".join(c.get("title", "") for c in descriptor.get("contributors", [])) or "The authors"
        rows = []
        for _, r in self._versions().iterrows():
            v = int(r["data_version"])
            digest = hs.data_hash(self.ds, v)
            runs = hs.searches(self.ds, v)
            searched = "<br>".join(_esc(f"{figures.SOURCE_NAMES.get(s.source, s.source)}: {s.window_start} to "
                                        f"{s.window_end}") for s in runs) or _esc(
                f"the paper's systematic search, to {fmt.long_date(r['search_date'])} (counts in search.csv)"
                if r["search_basis"] == "systematic search" and hs.previous_version(self.ds, v) is None else
                f"no search run recorded; last systematic search {fmt.long_date(r['search_date'])}")
            archive = r["archive_url"] if _present(r["archive_url"]) else None
            note = hs.snapshot_rows(self.ds, v)["note"].dropna()
            hash_cell = (f"<code>{_esc(digest[:16])}…</code>" if digest else "not frozen") + \
                (f"<br><small>{_esc(note.iloc[0])}</small>" if len(note) else "")
            rows.append([str(v), _esc(fmt.long_date(r["date"])), searched, hash_cell,
                         _esc(citation(title, authors, v, r["date"], digest, archive)),
                         f'<a href="{_esc(archive)}">archived build</a>' if archive else
                         "no archived build recorded"])
        return HTML(raw_table(["Version", "Frozen", "Searches", "Data hash (SHA-256)", "How to cite it",
                               "Archived build"], rows))

    def current_data(self) -> Markdown:
        latest = int(self._versions()["data_version"].max())
        digest = hs.data_hash(self.ds, latest)
        if digest is None:
            return Markdown(f"Version {latest} is not frozen yet: `python -m livingreview freeze --version {latest}` "
                            f"writes its snapshot when it is published.")
        now = hs.current_hash(self.ds.data_dir)
        if now == digest:
            return Markdown(f"The tables this book is built from are version {latest} exactly as frozen (SHA-256 "
                            f"`{digest}`).")
        return Markdown(f"The tables this book is built from differ from version {latest} as frozen (SHA-256 "
                        f"`{digest}`; now `{now}`): changes not yet released as a version. They will show as "
                        f"corrections in the next version's *What's new*.")

    def across(self):
        frame = hs.estimates_across_versions(self.ds, PRIMARY)
        return figures.estimates_across_versions_figure(frame[frame["data_version"] <= self.upto])


def context(ds, params: dict) -> dict:
    return common.spec_context({})


def load(data_dir="data", data_version=None) -> VersionsPage:
    ds = common.dataset(READS, data_dir, "the versions page")
    return VersionsPage(ds, ds.latest_version if data_version is None else int(data_version))
