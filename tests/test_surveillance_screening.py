"""Screening import (ASReview LAB 2.x and 1.x exports, plain CSV), append-only supersedes, the queue export, and
PRISMA 2020 flow counts against a hand-computed example."""

from __future__ import annotations

import csv

import pytest

pytest.importorskip("Bio.Entrez")  # the scenario's PubMed pages are parsed by Bio.Entrez

from livingreview.review.flow import prisma_flow  # noqa: E402
from livingreview.surveillance import (DataError, SurveillanceError, assign_data_version, export_queue,  # noqa: E402
                                       import_screening, link_study, main, screening_queue, search,
                                       validate_tables)
from test_surveillance_support import (FIXTURES, ScriptedTransport, clock, make_data_dir, quiet, rerun_steps,  # noqa: E402
                                       run1_steps, run3_steps)

SCR = FIXTURES / "screening"
T1, T2, T3, T4 = "2026-11-21T09:30:00Z", "2026-11-21T10:00:00Z", "2026-12-21T08:00:00Z", "2026-12-22T12:00:00Z"


def rows(data, name):
    with open(data / f"{name}.csv", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def searched(tmp_path):
    """Run 1 and the same-day rerun: 8 new records awaiting screening."""
    data = make_data_dir(tmp_path)
    search(data, transport=ScriptedTransport(run1_steps()), clock=clock(T1), log=quiet, page_size=2)
    search(data, transport=ScriptedTransport(rerun_steps()), clock=clock(T2), log=quiet)
    return data


def current(data):
    from livingreview.surveillance.screening import current_decisions

    return {k: (d["decision"], d["reason"]) for k, d in current_decisions(rows(data, "screening")).items()}


def test_asreview_lab2_export_is_matched_by_our_record_id(searched):
    rep = import_screening(searched, SCR / "asreview_v2_export.csv", reviewer="fallback", clock=clock(T4))
    assert (rep.appended, rep.superseded, rep.unchanged, rep.not_screened) == (7, 0, 0, 1)
    assert rep.unmatched == ("asreview_v2_export.csv, line 10: no record matches (record_id 'pubmed:99999999', "
                             "pmid '99999999', title \"A record from another project's queue\")",)
    assert rep.problems == ()
    dec = rows(searched, "screening")
    assert [(d["decision_id"], d["record_id"], d["decision"]) for d in dec[:4]] == [
        ("1", "pubmed:11700088", "include"), ("2", "europepmc:PPR:PPR200002", "include"),
        ("3", "ctgov:NCT09000001", "include"), ("4", "ctgov:NCT09000002", "include")]
    first = dec[0]
    assert (first["stage"], first["reviewer"], first["date"], first["imported_from"], first["import_file"],
            first["supersedes"]) == ("title-abstract", "Reviewer A", "2026-11-25", "asreview",
                                     "asreview_v2_export.csv:2", "")
    assert dec[4]["reason"] == "not ALL"
    assert [r["record_id"] for r in screening_queue(searched)] == ["ctgov:NCT09000003"]
    assert validate_tables(searched) == []


def test_reimport_changes_nothing_and_a_changed_decision_supersedes(searched):
    import_screening(searched, SCR / "asreview_v2_export.csv", clock=clock(T4))
    before = (searched / "screening.csv").read_bytes()
    again = import_screening(searched, SCR / "asreview_v2_export.csv", clock=clock(T4))
    assert (again.appended, again.unchanged) == (0, 7)
    assert (searched / "screening.csv").read_bytes() == before
    # ASReview 1.x export: its record_id are ASReview's integers, so rows match by DOI and by title
    rep = import_screening(searched, SCR / "asreview_v1_export.csv", reviewer="Reviewer C", clock=clock(T4))
    assert (rep.appended, rep.superseded, rep.unchanged, rep.not_screened) == (1, 1, 1, 1)
    assert rep.unmatched == ("asreview_v1_export.csv, line 4: no record matches (record_id '2', "
                             "title 'An unrelated paper that no search retrieved')",)
    after = (searched / "screening.csv").read_bytes()
    assert after.startswith(before), "an earlier decision was rewritten"
    new = rows(searched, "screening")[-1]
    assert (new["decision_id"], new["record_id"], new["decision"], new["reviewer"], new["date"], new["supersedes"]) \
        == ("8", "pubmed:9997", "include", "Reviewer C", "2026-12-22", "6")
    assert current(searched)[("pubmed:9997", "title-abstract")] == ("include", "")
    assert validate_tables(searched) == []


def test_plain_csv_full_text_decisions_with_reasons_and_problems(searched):
    import_screening(searched, SCR / "asreview_v2_export.csv", clock=clock(T4))
    rep = import_screening(searched, SCR / "decisions_fulltext.csv", format="csv", clock=clock(T4))
    assert (rep.appended, rep.superseded) == (6, 2)
    assert rep.problems == ("decisions_fulltext.csv, line 8: a full-text exclude needs a reason",
                            "decisions_fulltext.csv, line 9: decision 'perhaps' is not one of include, exclude, maybe")
    assert rep.unmatched == ("decisions_fulltext.csv, line 10: no record matches "
                             "(doi '10.9999/not-in-any-search')",)
    cur = current(searched)
    assert cur[("ctgov:NCT09000002", "title-abstract")] == ("maybe", "registry record without results")
    assert cur[("ctgov:NCT09000002", "full-text")] == ("exclude", "wrong intervention")
    assert cur[("europepmc:PPR:PPR200002", "full-text")] == ("include", "")  # matched by DOI with prefix
    chain = [d for d in rows(searched, "screening") if d["record_id"] == "ctgov:NCT09000002" and
             d["stage"] == "full-text"]
    assert [(d["decision"], d["supersedes"]) for d in chain] == [("maybe", ""), ("exclude", chain[0]["decision_id"])]
    assert validate_tables(searched) == []


def test_decisions_on_a_duplicate_go_to_its_primary(searched):
    path = searched.parent / "dup.csv"
    path.write_text("record_id,decision,reviewer,date\neuropepmc:MED:11748933,exclude,R,2026-12-01\n",
                    encoding="utf-8")
    rep = import_screening(searched, path, format="csv")
    assert rep.appended == 1 and rows(searched, "screening")[0]["record_id"] == "pubmed:11748933"


def test_import_refuses_files_it_cannot_read_and_changes_nothing(searched, tmp_path):
    before = (searched / "screening.csv").read_bytes()
    bad = tmp_path / "nolabel.csv"
    bad.write_text("record_id,title\npubmed:9997,x\n", encoding="utf-8")
    with pytest.raises(SurveillanceError, match="no ASReview label column"):
        import_screening(searched, bad, format="asreview")
    with pytest.raises(SurveillanceError, match="not found"):
        import_screening(searched, tmp_path / "missing.csv")
    nobody = tmp_path / "nobody.csv"
    nobody.write_text("record_id,decision\npubmed:9997,exclude\n", encoding="utf-8")
    rep = import_screening(searched, nobody, format="csv")
    assert rep.problems == ("nobody.csv, line 2: no reviewer (give a reviewer column or reviewer=...)",)
    assert (searched / "screening.csv").read_bytes() == before


def test_queue_export_for_asreview_keeps_record_ids_and_abstracts(searched, tmp_path):
    out = tmp_path / "queue.csv"
    assert export_queue(searched, out) == 8
    q = list(csv.DictReader(open(out, encoding="utf-8")))
    assert [r["record_id"] for r in q][:2] == ["pubmed:12091962", "pubmed:9997"]
    by = {r["record_id"]: r for r in q}
    assert by["europepmc:PPR:PPR200002"]["abstract"] == "Constructed abstract for the screening export test."
    assert by["pubmed:9997"]["abstract"].startswith("Electron paramagnetic resonance and magnetic susceptibility")
    assert by["pubmed:12091962"]["abstract"] == ""  # that PubMed record has no abstract
    assert by["ctgov:NCT09000001"]["abstract"] == "Constructed summary A."
    assert by["ctgov:NCT09000001"]["url"] == "https://clinicaltrials.gov/study/NCT09000001"
    assert "europepmc:MED:11748933" not in by  # duplicates are never screened


def test_flow_counts_match_the_hand_computed_example(searched):
    import_screening(searched, SCR / "asreview_v2_export.csv", clock=clock(T4))
    import_screening(searched, SCR / "decisions_fulltext.csv", format="csv", clock=clock(T4))
    f = prisma_flow(searched)  # the update in progress (runs without data_version)
    # By hand: run 1 retrieved pubmed 4, europepmc 4, ctgov 3; the rerun pubmed 2 (both seen before).
    # Duplicates: MED:11748933 (pmid), CBA000001 (doi), PPR100001 (title+year), the rerun's 2 (source id) = 5.
    # New records 8; title-abstract: 3 excluded, 4 sought (3 include, NCT09000002 maybe), NCT09000003 awaiting.
    # Full text: 11700088 excluded (wrong population), NCT09000002 excluded (wrong intervention, superseding
    # maybe), PPR200002 and NCT09000001 included but not yet linked to a study.
    assert f.as_dict() == {
        "data_version": None,
        "sources_searched": {"ctgov": ["2024-12-02", "2026-11-21"], "europepmc": ["2024-12-02", "2026-11-21"],
                             "pubmed": ["2024-12-02", "2026-11-21"]},
        "records_identified": {"pubmed": 6, "europepmc": 4, "ctgov": 3},
        "records_databases": 10, "records_registers": 3, "duplicates_removed": 5, "records_removed_other": None,
        "records_screened": 7, "records_awaiting_screening": 1, "records_excluded": 3, "reports_sought": 4,
        "reports_not_retrieved": None, "reports_assessed": 4, "reports_awaiting_assessment": 0,
        "reports_excluded": 2, "reports_excluded_reasons": {"wrong intervention": 1, "wrong population": 1},
        "new_studies_included": None, "reports_of_new_studies": None, "reports_of_previous_studies": None,
        "included_reports_unlinked": 2}
    link_study(searched, "europepmc:PPR:PPR200002", "newstudy2025")
    link_study(searched, "ctgov:NCT09000001", "kantarjian2019_inovate")
    f = prisma_flow(searched)
    assert (f.new_studies_included, f.reports_of_new_studies, f.reports_of_previous_studies,
            f.included_reports_unlinked) == (2, 2, 0, 0)
    with pytest.raises(DataError, match="study_id defined in studies.csv"):
        link_study(searched, "pubmed:9997", "no_such_study")

    # Freeze this update as data version 2, search again a month later, include a new report of newstudy2025.
    assert assign_data_version(searched, 2) == 6
    assert prisma_flow(searched, 2).records_databases == 10
    search(searched, transport=ScriptedTransport(run3_steps()), clock=clock(T3), log=quiet)
    path = searched.parent / "run3.csv"
    path.write_text("record_id,stage,decision,reviewer,date\npubmed:27797938,title-abstract,include,R,2026-12-22\n"
                    "pubmed:27797938,full-text,include,R,2026-12-23\n", encoding="utf-8")
    assert import_screening(searched, path, format="csv").appended == 2
    link_study(searched, "pubmed:27797938", "newstudy2025")
    f3 = prisma_flow(searched)
    assert (f3.records_identified, f3.duplicates_removed, f3.records_screened, f3.reports_assessed,
            f3.new_studies_included, f3.reports_of_new_studies, f3.reports_of_previous_studies) == (
        {"pubmed": 1, "europepmc": 0, "ctgov": 1}, 1, 1, 1, 0, 0, 1)
    assert f3.sources_searched["pubmed"] == ["2026-11-21", "2026-12-21"]
    assert prisma_flow(searched, 2).new_studies_included == 2  # version 2 is unchanged by the later update
    assert validate_tables(searched) == []


def test_main_runs_the_commands(searched, tmp_path, capsys):
    assert main(["--data", str(searched), "import-screening", str(SCR / "asreview_v2_export.csv")],
                clock=clock(T4)) == 1  # one unmatched row: exit 1, listed
    out = capsys.readouterr().out
    assert "7 decision(s) appended" in out and "unmatched: asreview_v2_export.csv, line 10" in out
    assert main(["--data", str(searched), "queue", str(tmp_path / "q.csv")]) == 0
    from livingreview.cli import main as lr_main

    assert lr_main(["flow", "--data", str(searched)]) == 0
    assert '"records_screened": 7' in capsys.readouterr().out
    assert main(["--data", str(searched), "validate"]) == 0
