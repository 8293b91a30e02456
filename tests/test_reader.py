"""A reader's way in (issue 16): the summary of findings and its certainty, the paper's numbers beside ours, quiet
pages, the bibliography, how to cite, and public text only.

Unit tests use the page modules and the review layer directly; the tests of the built HTML share the session's real
build (``real_book``)."""

from __future__ import annotations

import csv
import html as htmllib
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from livingreview.config import DATA_DIR, ROOT

SYNTHETIC = Path(__file__).parent / "fixtures" / "synthetic"


@pytest.fixture(scope="module")
def ds():
    from livingreview.dataset import load_dataset

    return load_dataset(DATA_DIR)


@pytest.fixture(scope="module")
def sof():
    from livingreview.book.summary_of_findings import load

    return load()


def cells(table_html: str) -> list[list[str]]:
    """The body rows of an HTML table as text cells (tags dropped, entities decoded)."""
    body = table_html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [[htmllib.unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<td>(.*?)</td>", row)]
            for row in re.findall(r"<tr>(.*?)</tr>", body)]


# --- certainty: the data and the arithmetic ---------------------------------------------------------------------------

def test_every_pooled_outcome_is_rated_in_every_domain(ds, sof):
    from livingreview.review.certainty import DOMAINS

    pooled = [f for f in sof.findings if f.inputs is not None]
    assert pooled, "no pooled outcome"
    for f in pooled:
        assert f.certainty is not None, f"{f.outcome} has pooled data but no certainty rating"
        assert tuple(j.domain for j in f.certainty.judgements) == DOMAINS, f.outcome
        assert f.certainty.judged_version == ds.latest_version, f.outcome


def test_certainty_levels_count_down_from_high():
    from livingreview.review.certainty import Certainty, Judgement

    def level(*ratings):
        return Certainty("x", 1, tuple(Judgement(str(i), r, "") for i, r in enumerate(ratings)))

    assert (level("not serious").label, level("not serious").symbols) == ("High", "⊕⊕⊕⊕")
    assert level("serious", "not serious").label == "Moderate"
    assert level("very serious").label == "Low"
    assert (level("very serious", "very serious", "serious").label, level("very serious", "serious", "serious")
            .symbols) == ("Very low", "⊕◯◯◯")  # never below very low


def test_a_judgement_missing_a_domain_is_named(tmp_path):
    from livingreview.dataset import DataValidationError, load_dataset

    data = tmp_path / "data"
    shutil.copytree(SYNTHETIC, data)
    rows = [["outcome", "domain", "data_version", "rating", "reason"]]
    rows += [["vod", d, "1", "not serious", "Because."] for d in ("risk of bias", "inconsistency", "imprecision")]
    rows += [["vod", "indirectness", "1", "dreadful", "Because."]]
    with open(data / "certainty.csv", "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    with pytest.raises(DataValidationError) as err:
        load_dataset(data)
    text = str(err.value)
    assert "certainty.csv, line 2, column 'domain': rule 'every GRADE domain rated' broken" in text
    assert "lacks publication bias" in text
    assert "certainty.csv, line 5, column 'rating': rule 'allowed values' broken" in text


def test_a_later_version_keeps_the_last_judgement_and_says_so(ds):
    from livingreview.review.certainty import certainty

    assert certainty(ds, "vod", data_version=ds.latest_version).judged_version == ds.latest_version
    assert certainty(ds, "vod", data_version=1) is None  # nothing was judged for version 1
    assert certainty(ds, "ae_anemia_g3") is None  # no data, no rating


def test_certainty_changes_between_versions(ds):
    from livingreview.review.certainty import certainty_changes

    changes = dict((o, (a, b)) for o, a, b in certainty_changes(ds, 1, ds.latest_version))
    assert changes["vod"] == (None, "Moderate") and changes["overall_response"] == (None, "Very low")
    assert certainty_changes(ds, ds.latest_version, ds.latest_version) == []


def test_inputs_are_the_outcome_pages_analysis(ds, sof):
    from livingreview.review.certainty import CI_SERIOUS_PP

    vod = next(f for f in sof.findings if f.outcome == "vod")
    res = vod.analysis.overall.proportion()
    assert vod.inputs.k == vod.analysis.k and vod.inputs.ci_width_pp == pytest.approx(100 * (res.ci_high - res.ci_low))
    described = vod.inputs.describe()
    assert f"serious above {CI_SERIOUS_PP:.0f} pp" in described["imprecision"]
    assert "no test is informative" in described["publication bias"]  # k < 10
    response = next(f for f in sof.findings if f.outcome == "overall_response")
    assert response.inputs.k >= 10 and "Egger's test p" in response.inputs.describe()["publication bias"]


# --- the summary of findings equals the outcome pages -----------------------------------------------------------------

def test_summary_of_findings_numbers_equal_the_outcome_pages(sof):
    from livingreview.book.outcome import load as load_outcome, summary_frame

    rows = {r[0]: r for r in cells(sof.table().data)}
    main = sof.main()
    assert len(rows) == len(main) >= 10
    for f in main:
        page = load_outcome(f.outcome)
        overall = summary_frame(page.rows).iloc[0]
        assert overall["Analysis"] == "Overall"
        row = rows[f.label]
        assert row[1].split(" ")[0] == str(overall["Studies"]), f.outcome
        assert row[1] == f"{overall['Studies']} ({int(overall['Events / patients'].split(' / ')[1]):,})", f.outcome
        assert row[2] == f"{overall['Estimate']} ({overall['95% CI']})", f.outcome
        assert row[3] == overall["95% PI"] or (overall["95% PI"] == "NA" and row[3].startswith("not estimable"))


def test_summary_of_findings_shows_the_papers_value_and_k(ds, sof):
    from livingreview.review.paper import paper_results, percent

    paper = paper_results(ds).set_index(["outcome", "subgroup"])
    rows = {r[0]: r for r in cells(sof.table().data)}
    for f in sof.main():
        p = paper.loc[(f.outcome, "overall")]
        assert rows[f.label][4].startswith(percent(p["estimate"])) and f"k = {int(p['k'])}" in rows[f.label][4]


def test_footnotes_give_every_domain_rated_down(sof):
    html = sof.table().data
    for f in sof.main():
        for j in f.certainty.rated_down():
            assert htmllib.escape(j.reason) in html, (f.outcome, j.domain)
    marks = re.findall(r'href="#(sof-note-\d+)"', html)
    assert marks and all(f'id="{m}"' in html for m in marks)


def test_landing_page_tells_the_same_numbers(sof):
    from livingreview.book.landing import PLAIN, _rate, load as load_landing

    page = load_landing()
    text = page.plain_language().data
    for f in sof.findings:
        if f.outcome in PLAIN and f.inputs is not None:
            assert _rate(f) in text, f.outcome
    assert cells(page.summary_table().data) == cells(sof.table().data)
    box = page.coverage_box().data
    assert "of the paper&#x27;s 16 studies identified" in box and "printed pooled numbers" in box


# --- the paper beside us ----------------------------------------------------------------------------------------------

def test_every_outcome_page_shows_the_papers_printed_value(ds):
    from livingreview.book.outcome import load as load_outcome
    from livingreview.review.paper import paper_results, percent

    paper = paper_results(ds)
    overall = paper[(paper["subgroup"] == "overall") & paper["estimate"].notna()]
    main = set(ds.definitions.loc[ds.definitions["kind"] != "adverse_event", "outcome"])
    assert main <= set(overall["outcome"])
    for _, p in overall[overall["outcome"].isin(main)].iterrows():
        table = load_outcome(p["outcome"]).summary_table().data
        row = next(r for r in cells(table) if r[0] == "Overall: Lao et al. 2025, as printed")
        assert row[1] == str(int(p["k"])) and row[3] == percent(p["estimate"]), p["outcome"]


def test_the_adverse_events_table_shows_the_papers_table_2(ds):
    from livingreview.book.adverse_events import load as load_ae
    from livingreview.review.paper import paper_results, paper_text

    table = load_ae().table().data
    paper = paper_results(ds, outcomes=[o for o in ds.definitions["outcome"] if o.startswith("ae_")])
    assert len(paper) == 16
    for _, p in paper.iterrows():
        assert htmllib.escape(paper_text(p)) in table, p["outcome"]
    assert "Lao et al. 2025, as printed" in table


def test_the_papers_numbers_are_shown_as_printed(ds):
    from livingreview.review.paper import interval, paper_results, paper_row

    vod = paper_row(paper_results(ds), "vod", "regimen", "InO + chemotherapy")
    assert interval(vod["ci_low"], vod["ci_high"]) == "−0.02%–3.3%"  # at the paper's own decimals


# --- quiet pages ------------------------------------------------------------------------------------------------------

def test_cells_that_show_nothing_are_removed_and_results_keep_their_code():
    import nbformat

    from livingreview.build.render import tidy_executed

    nb = nbformat.v4.new_notebook()
    quiet = nbformat.v4.new_code_cell("page = load()")
    glue = nbformat.v4.new_code_cell("page.glue_numbers()")
    glue.outputs = [nbformat.v4.new_output("display_data", data={"application/papermill.record/text/plain": "x"},
                                           metadata={"scrapbook": {"name": "x", "mime_prefix": ""}})]
    result = nbformat.v4.new_code_cell("page.table()")
    result.outputs = [nbformat.v4.new_output("display_data", data={"text/html": "<table></table>"})]
    nb.cells = [quiet, glue, result]
    tags = [c.metadata["tags"] for c in tidy_executed(nb, "d").cells]
    assert tags == [["remove-cell"], ["remove-cell"], ["hide-input"]]


def test_no_page_opens_with_an_empty_code_toggle(real_book):
    _, html = real_book
    empty = []
    for page in sorted(Path(html).rglob("*.html")):
        text = page.read_text(encoding="utf-8")
        for cell in re.split(r'<div class="cell ', text)[1:]:
            head = cell[:300]
            if "tag_hide-input" not in head:
                continue
            output = re.search(r'<div class="cell_output docutils container">(.*)', cell, re.S)
            if output is None or not re.sub(r"<[^>]+>|\s", "", output.group(1)[:2000]):
                empty.append(page.relative_to(html).as_posix())
    assert empty == [], f"pages with a code toggle that shows nothing: {sorted(set(empty))}"


# --- references -----------------------------------------------------------------------------------------------------

def test_bibliography_lists_every_report_and_reference(real_book, ds):
    from livingreview.build.bibliography import METHODS, dataset_entries, reference_anchor

    _, html = real_book
    text = (Path(html) / "references.html").read_text(encoding="utf-8")
    keys = [key for key, _ in dataset_entries(ds)]
    assert len(keys) == len(ds.reports) + int((ds.studies["identification"] == "not identified").sum())
    for ref in ds.studies["ref_no"].dropna():  # "[18]" in a table has an entry to link to
        assert f'id="{reference_anchor(ref)}"' in text, ref
    for key in keys + list(METHODS):
        assert f'id="cite-{key.replace("_", "-")}"' in text, key
    for doi in ds.reports["doi"].dropna():
        assert doi in text, doi


def test_every_citation_in_the_templates_is_in_the_bibliography():
    from livingreview.build.bibliography import METHODS

    used = set()
    for path in list((ROOT / "notebooks").glob("*.ipynb")) + list((ROOT / "book").rglob("*.md")):
        for keys in re.findall(r"\{cite(?::[pt])?\}`([^`]+)`", path.read_text(encoding="utf-8")):
            used.update(k.strip() for k in keys.split(","))
    assert used, "no citation found"
    assert used <= set(METHODS), f"cited but not in the methods bibliography: {sorted(used - set(METHODS))}"


def test_bibliography_fields_are_escaped_and_identifiers_come_from_the_data(ds):
    from livingreview.build.bibliography import METHODS, bib_text, bibliography

    assert bib_text("50% & {x}_1 $5") == r"50\% \& \{x\}\_1 \$5"
    bib = bibliography(ds)
    dois = set(re.findall(r"doi = \{([^}]+)\}", bib))
    known = set(ds.reports["doi"].dropna()) | {f[2]["doi"] for f in METHODS.values() if "doi" in f[2]}
    assert dois <= known  # no identifier that is neither in the dataset nor in the checked methods list


# --- how to cite ------------------------------------------------------------------------------------------------------

def test_cite_this_version_names_the_version_and_no_repository_when_unset(tmp_path):
    from livingreview.build.citation import cite_markdown, cite_this_version, repository_links

    text = cite_this_version(3, "1 January 2027")
    assert "data version 3 (dataset of 1 January 2027)" in text and "Version " in text
    assert repository_links() == {} and "http" not in text
    cff = tmp_path / "CITATION.cff"
    cff.write_text((ROOT / "CITATION.cff").read_text(encoding="utf-8")
                   + "repository-code: https://example.org/review\n", encoding="utf-8")
    links = repository_links(cff)
    assert links["Report a data error"].startswith("https://example.org/review/issues/new")
    assert "https://example.org/review" in cite_markdown(3, "1 January 2027", cff)


def test_repository_buttons_only_with_a_repository(tmp_path, monkeypatch, ds):
    import yaml

    from livingreview.build import citation, pipeline
    from livingreview.build.manifest import load_manifest

    manifest = load_manifest()
    config = yaml.safe_load(pipeline._staged_files(manifest, ds, DATA_DIR, None)["_config.yml"])
    assert "repository" not in config and not config["html"].get("use_repository_button")
    assert "Cite this version" in config["html"]["extra_footer"]
    assert "index.md" in config["exclude_patterns"]  # the landing notebook shadows the static page
    cff = tmp_path / "CITATION.cff"
    cff.write_text((ROOT / "CITATION.cff").read_text(encoding="utf-8")
                   + "repository-code: https://example.org/review\n", encoding="utf-8")
    monkeypatch.setattr(citation, "CITATION", cff)
    files = pipeline._staged_files(manifest, ds, DATA_DIR, None)
    config = yaml.safe_load(files["_config.yml"])
    assert config["repository"]["url"] == "https://example.org/review"
    assert config["html"]["use_repository_button"] and config["html"]["use_issues_button"]
    assert "Report a data error" in config["html"]["extra_footer"] and b"example.org" in files["_cite.md"]


def test_the_landing_page_and_footer_show_how_to_cite(real_book):
    _, html = real_book
    for doc in ("index", "results/vod"):
        text = htmllib.unescape((Path(html) / f"{doc}.html").read_text(encoding="utf-8"))
        assert "Cite this version:" in text, doc
    assert "## Cite this version" not in (Path(html) / "index.html").read_text(encoding="utf-8")


# --- public text only -------------------------------------------------------------------------------------------------

def test_no_curation_words_in_the_built_book(real_book):
    from livingreview.dataset.rules import INTERNAL

    _, html = real_book
    found = []
    for page in sorted(list(Path(html).rglob("*.html")) + [Path(html) / "searchindex.js"]):
        for m in INTERNAL.finditer(page.read_text(encoding="utf-8", errors="replace")):
            found.append(f"{page.relative_to(html)}: {m.group(0)!r}")
    assert found == []


def test_the_internal_words_include_curation_terms():
    from livingreview.dataset.rules import INTERNAL

    for text in ("stored sources", "look-ups", "pass 2", "LEADS", "compendium", "the curator", "curator_note",
                 "file id"):
        assert INTERNAL.search(text), text
    assert not INTERNAL.search("the data version and the public source")


def test_judgement_table_lists_inputs_beside_each_rating(sof):
    html = sof.judgements_table().data
    tables = html.split("</details>")[:-1]
    assert len(tables) == sum(f.inputs is not None for f in sof.findings)
    frame = pd.DataFrame([c for t in tables for c in cells(t)], columns=["domain", "inputs", "rating", "reason"])
    assert set(frame["rating"]) <= {"not serious", "serious", "very serious"}
    assert (frame["inputs"].str.len() > 0).all() and (frame["reason"].str.len() > 0).all()
