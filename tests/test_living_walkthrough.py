"""A review author's version 3, end to end, on a copy of the synthetic dataset: a recorded (fixture) search run,
screening decisions from an ASReview export and a CSV, one included study extracted, validate, freeze, build — then
the flow diagram's counts, What's new, the changelog, the versions page and the protocol page are read as built.

Follows the README's "Adding a study" checklist step by step. The build uses a small manifest of the four update
pages (about a minute)."""

from __future__ import annotations

import html as htmllib
import re
import shutil
from pathlib import Path

import pytest
import yaml

pytest.importorskip("Bio.Entrez")  # the fixture's PubMed pages are parsed by Bio.Entrez

from test_surveillance_support import FIXTURES, ScriptedTransport, clock, quiet, run1_steps  # noqa: E402

from livingreview import cli  # noqa: E402
from livingreview.build import build  # noqa: E402
from livingreview.dataset import load_dataset  # noqa: E402
from livingreview.review import history as hs  # noqa: E402
from livingreview.review.flow import prisma_flow  # noqa: E402
from livingreview.surveillance import (  # noqa: E402
    DEFAULT_STRATEGIES,
    import_screening,
    link_study,
    search,
    tables as sv_tables,  # noqa: E402
)

SYNTHETIC = Path(__file__).parent / "fixtures" / "synthetic"
SCR = FIXTURES / "screening"


def append(path: Path, line: str) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")


def text_of(html: Path, doc: str) -> str:
    t = (html / f"{doc}.html").read_text(encoding="utf-8")
    t = re.sub(r"<script.*?</script>|<style.*?</style>", " ", t, flags=re.S)
    return htmllib.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", t)))


@pytest.fixture(scope="module")
def walkthrough(tmp_path_factory):
    root = tmp_path_factory.mktemp("v3")
    data = root / "data"
    shutil.copytree(SYNTHETIC, data)
    # Versions 1 and 2 were published earlier: frozen as they stood.
    assert cli.main(["freeze", "--data", str(data), "--version", "1", "--date", "2025-01-15"]) == 0
    assert cli.main(["freeze", "--data", str(data), "--version", "2", "--date", "2025-07-01"]) == 0
    # 1. search: the stored strategies, run over their window (recorded responses instead of the network)
    (data / "search_strategies.csv").write_bytes(
        sv_tables.to_csv_bytes(sv_tables.columns(data, "search_strategies"), list(DEFAULT_STRATEGIES)))
    search(data, transport=ScriptedTransport(run1_steps()), clock=clock("2026-11-21T09:30:00Z"), log=quiet,
           page_size=2)
    # 2. screen: title-abstract decisions from ASReview LAB, full text from a spreadsheet
    import_screening(data, SCR / "asreview_v2_export.csv", clock=clock("2026-11-25T10:00:00Z"))
    import_screening(data, SCR / "decisions_fulltext.csv", format="csv", clock=clock("2026-11-25T10:00:00Z"))
    # 3. extract: the version, the new study, its report and its figures; link the included records
    append(data / "versions.csv", "3,2026-11-28,2026-11-21,systematic search,Synthetic update from a recorded "
                                  "search,")
    append(data / "studies.csv", "iota2026,Iota et al.,,single-arm,InO monotherapy,relapsed/refractory,,,,120,"
                                 "median 2 years,identified,,,,,3")
    append(data / "reports.csv", "iota2026_r1,iota2026,principal,other,\"Iota I, et al. Synthetic preprint. "
                                 "2026.\",2026,10.9999/synth.0099,,,,,,,")
    append(data / "outcomes.csv", "iota2026,overall_response,60,120,50%,reported count,all treated,,exact,"
                                  "iota2026_r1,Iota 2026 Table 2,60 of 120 patients responded,verified,,")
    link_study(data, "europepmc:PPR:PPR200002", "iota2026")
    link_study(data, "ctgov:NCT09000001", "alpha2019")  # a registry record of a study already included
    # 4. validate, 5. freeze (snapshot + the runs get data_version 3), 6. build
    load_dataset(data)
    assert cli.main(["freeze", "--data", str(data), "--version", "3", "--date", "2026-11-28"]) == 0
    manifest = root / "manifest.yml"
    manifest.write_text(yaml.safe_dump({
        "root": {"notebook": "what_changed", "output": "updates/what-changed"},
        "parts": [{"caption": "Updates", "chapters": [
            {"notebook": "changelog", "output": "updates/changelog"},
            {"notebook": "versions", "output": "updates/versions"},
            {"notebook": "protocol", "output": "updates/protocol"}]}]}, sort_keys=False))
    html = build(data_dir=data, build_dir=root / "build", manifest=manifest, jobs=2, log=lambda *a: None)
    return data, html


def test_the_flow_counts_match_the_hand_computed_example(walkthrough):
    data, _ = walkthrough
    f = prisma_flow(data, 3)
    # By hand (tests/fixtures/surveillance/README.md): pubmed 4, europepmc 4, ctgov 3 retrieved; duplicates
    # MED:11748933 (pmid), CBA000001 (doi), PPR100001 (title + year) = 3; 8 new records, 7 screened (3 excluded,
    # 4 sought), 1 awaiting; full text: 2 excluded (wrong population, wrong intervention), 2 included — the
    # preprint of the new study iota2026 and a registry record of alpha2019 (a study of version 1).
    assert (f.records_identified, f.duplicates_removed, f.records_screened, f.records_excluded,
            f.records_awaiting_screening, f.reports_sought, f.reports_assessed, f.reports_excluded) == (
        {"pubmed": 4, "europepmc": 4, "ctgov": 3}, 3, 7, 3, 1, 4, 4, 2)
    assert (f.new_studies_included, f.reports_of_new_studies, f.reports_of_previous_studies) == (1, 1, 1)
    ds = load_dataset(data)
    fd = hs.flow_diagram(ds, 3)
    assert (fd.previous_studies, fd.previous_reports, fd.other_methods, fd.total_studies, fd.total_reports) == (
        8, 7, None, 9, 8)
    before = dict(hs.flow_diagram(ds, 2).synthesis)
    assert dict(fd.synthesis)["Overall response"] == before["Overall response"] + 1  # iota2026 reports it
    assert {k: v for k, v in dict(fd.synthesis).items() if k != "Overall response"} == \
        {k: v for k, v in before.items() if k != "Overall response"}


def test_whats_new_of_version_3(walkthrough):
    data, html = walkthrough
    ds = load_dataset(data)
    w = hs.whats_new(ds, 3)
    assert w.search_recorded and [s.source for s in w.searches] == ["ctgov", "europepmc", "pubmed"]
    assert list(w.added["display_label"]) == ["Iota et al. [new]"] and w.corrections == ()
    fired = {t.trigger_id for t in w.triggers if t.fired}
    assert "large_study_100" in fired  # 120 patients
    assert w.update_class == "new search, new studies, conclusions changed"
    text = text_of(html, "updates/what-changed")
    assert "Update class: new search, new studies, conclusions changed." in text
    assert "PubMed 2 December 2024 to 21 November 2026 (4 records, 4 new)" in text
    assert "Iota et al. [new]" in text and "Theta et al. [v2]" not in text  # v2's study is no longer new
    assert "Iota et al. (120 patients)" in text
    assert (html / "_images").is_dir() and any((html / "_images").iterdir())  # the PRISMA diagram and forests
    assert "Data version 3 · literature searched to 21 November 2026 · dataset of 28 November 2026" in text


def test_changelog_and_versions_pages_of_version_3(walkthrough):
    data, html = walkthrough
    ds = load_dataset(data)
    changelog = text_of(html, "updates/changelog")
    assert "Version 3 — dataset of 28 November 2026; new search, new studies, conclusions changed" in changelog
    assert "Studies added: Theta et al. [v2]" in changelog  # version 2's entry, labelled with its version
    versions = text_of(html, "updates/versions")
    for v in (1, 2, 3):
        assert hs.data_hash(ds, v)[:16] in versions
    assert "PubMed: 2024-12-02 to 2026-11-21" in versions
    assert "no archived build recorded" in versions and "http" not in versions.split("Estimates across")[0]
    assert "exactly as frozen" in versions
    protocol = text_of(html, "updates/protocol")
    assert "pubmed_1" in protocol and "2026-11-21 (1 run)" in protocol
