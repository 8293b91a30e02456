"""The living loop's rules: the protocol and snapshot tables, freezing, corrections shown as corrections, triggers
firing and not firing, cautions, "[new]" for the latest version only, the update class, the command line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from livingreview.build.snapshots import FreezeError, freeze
from livingreview.dataset import DataValidationError, load_dataset
from livingreview.review import history as hs
from livingreview.review.flow import current_decisions
from livingreview.review.outcomes import display_labels

SYNTHETIC = Path(__file__).parent / "fixtures" / "synthetic"


def copy_synthetic(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    shutil.copytree(SYNTHETIC, data)
    return data


def set_cell(path: Path, match: dict, column: str, value: str) -> None:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    hit = pd.Series(True, index=frame.index)
    for k, v in match.items():
        hit &= frame[k] == v
    assert hit.sum() == 1, (path.name, match)
    frame.loc[hit, column] = value
    frame.to_csv(path, index=False, lineterminator="\n")


def add_version(data: Path, version: int, date: str, basis="identified without a systematic search",
                search_date="2024-12-02") -> None:
    with open(data / "versions.csv", "a", encoding="utf-8") as fh:
        fh.write(f"{version},{date},{search_date},{basis},Synthetic version {version},\n")


def errors(data: Path) -> list[str]:
    with pytest.raises(DataValidationError) as exc:
        load_dataset(data)
    return [str(v) for v in exc.value.violations]


# --- tables and rules ----------------------------------------------------------------------------------------------

def test_protocol_threshold_is_required_except_for_certainty(tmp_path):
    data = copy_synthetic(tmp_path)
    set_cell(data / "protocol.csv", {"trigger_id": "shift_5pp"}, "threshold", "")
    set_cell(data / "protocol.csv", {"trigger_id": "certainty_any"}, "threshold", "1")
    found = errors(data)
    assert any("protocol.csv, line 2, column 'threshold'" in e and "threshold iff kind" in e for e in found)
    assert any("protocol.csv, line 6, column 'threshold'" in e for e in found)


def test_a_frozen_copy_cannot_be_edited_or_misplaced(tmp_path):
    data = copy_synthetic(tmp_path)
    freeze(data, 1, on="2026-01-01")
    load_dataset(data)  # valid as written
    copy = data / "snapshots" / "v1" / "outcomes.csv"
    text = copy.read_text(encoding="utf-8")
    copy.write_text(text.replace("alpha2019,overall_response,", "alpha2019,overall_response,1", 1), encoding="utf-8")
    found = errors(data)
    assert any("snapshots.csv" in e and "'sha256'" in e and "has been edited" in e for e in found), found
    data2 = copy_synthetic(tmp_path / "b")
    freeze(data2, 1, on="2026-01-01")
    set_cell(data2 / "snapshots.csv", {"table": "studies"}, "file", "snapshots/v2/studies.csv")
    assert any("snapshot file of its version and table" in e for e in errors(data2))


def test_freeze_writes_every_table_once_and_refuses_to_refreeze(tmp_path):
    data = copy_synthetic(tmp_path)
    written = freeze(data, 2, on="2026-02-01", note="test")
    assert [p.name for p in written[:-1]] == [f"{t}.csv" for t in hs.SNAPSHOT_TABLES]
    assert (data / "snapshots" / "v2" / "outcomes.csv").read_bytes() == (data / "outcomes.csv").read_bytes()
    ds = load_dataset(data)
    assert hs.frozen_versions(ds) == (2,)
    assert hs.data_hash(ds, 2) == hs.current_hash(data)
    before = (data / "snapshots.csv").read_bytes()
    with pytest.raises(FreezeError, match="frozen already"):
        freeze(data, 2)
    with pytest.raises(FreezeError, match="not in versions.csv"):
        freeze(data, 9)
    assert (data / "snapshots.csv").read_bytes() == before


def test_freeze_refuses_invalid_data_and_changes_nothing(tmp_path):
    data = copy_synthetic(tmp_path)
    set_cell(data / "outcomes.csv", {"study_id": "alpha2019", "outcome": "overall_response"}, "events", "999")
    with pytest.raises(FreezeError, match="invalid"):
        freeze(data, 1)
    assert not (data / "snapshots").exists()


def test_review_and_import_agree_on_the_current_decision():
    from livingreview.surveillance.screening import current_decisions as at_import

    decisions = [
        {"decision_id": "1", "record_id": "a", "stage": "title-abstract", "decision": "maybe", "supersedes": ""},
        {"decision_id": "2", "record_id": "a", "stage": "title-abstract", "decision": "include", "supersedes": "1"},
        {"decision_id": "3", "record_id": "a", "stage": "full-text", "decision": "exclude", "supersedes": ""},
        {"decision_id": "4", "record_id": "b", "stage": "title-abstract", "decision": "exclude", "supersedes": ""},
    ]
    ours = current_decisions(decisions)
    assert ours == at_import(decisions)
    assert {k: d["decision"] for k, d in ours.items()} == {("a", "title-abstract"): "include",
                                                            ("a", "full-text"): "exclude",
                                                            ("b", "title-abstract"): "exclude"}


# --- history -------------------------------------------------------------------------------------------------------

@pytest.fixture
def corrected(tmp_path):
    """Synthetic versions 1 and 2 frozen; then version 3 corrects one count of a version-1 study, adds nothing."""
    data = copy_synthetic(tmp_path)
    freeze(data, 1, on="2025-01-15")
    freeze(data, 2, on="2025-07-01")
    add_version(data, 3, "2026-01-10")
    set_cell(data / "outcomes.csv", {"study_id": "beta2020", "outcome": "overall_response"}, "events", "5")
    return data


def test_a_correction_shows_as_a_correction_and_history_is_not_rewritten(corrected):
    ds = load_dataset(corrected)
    old_events = int(load_dataset(SYNTHETIC).outcomes.set_index(["study_id", "outcome"])
                     .loc[("beta2020", "overall_response"), "events"])
    w3 = hs.whats_new(ds, 3)
    assert len(w3.added) == 0 and len(w3.removed) == 0
    assert [(c.study_id, f.table, f.where, f.column, f.old, f.new) for c in w3.corrections for f in c.changes] == [
        ("beta2020", "outcomes", "overall_response", "events", str(old_events), "5")]
    assert w3.update_class.startswith("amended (corrections, no new search)")
    assert any(m.outcome == "overall_response" and m.overall for m in w3.moves)
    # version 2 is read from its snapshot: the correction does not reach it, nor its comparison with version 1
    w2 = hs.whats_new(ds, 2)
    assert w2.corrections == () and list(w2.added["study_id"]) == ["theta2025"]
    frozen_v2 = hs.version_results(hs.version_data(ds, 2))
    original_v2 = hs.version_results(hs.VersionData(2, load_dataset(SYNTHETIC), True))
    pd.testing.assert_frame_equal(frozen_v2, original_v2)
    across = hs.estimates_across_versions(ds).set_index(["outcome", "data_version"])
    assert across.loc[("overall_response", 2), "estimate"] == pytest.approx(
        original_v2.set_index(["outcome", "subgroup"]).loc[("overall_response", "overall"), "estimate"])
    assert across.loc[("overall_response", 3), "estimate"] != across.loc[("overall_response", 2), "estimate"]


def test_without_snapshots_the_current_tables_stand_in_and_say_so(tmp_path):
    ds = load_dataset(copy_synthetic(tmp_path))
    w = hs.whats_new(ds, 2)
    assert not w.previous_frozen and not w.frozen and w.corrections == ()


def test_new_marks_only_the_latest_versions_studies():
    studies = pd.DataFrame({"label": ["A", "B", "C"], "ref_no": [1, None, None], "data_version": [1, 2, 3]})
    assert display_labels(studies, latest=3) == ["A [1]", "B [v2]", "C [new]"]
    assert display_labels(studies, latest=2)[1] == "B [new]"


def _results(rows):
    cols = ["outcome", "subgroup", "level", "k", "events", "total", "estimate", "ci_low", "ci_high", "pi_low",
            "pi_high", "i2"]
    return pd.DataFrame([dict(zip(cols, r)) for r in rows], columns=cols)


PROTOCOL = pd.DataFrame([
    {"trigger_id": "shift", "kind": "estimate_shift", "outcome": None, "threshold": 5.0, "adopted": "2025-01-01",
     "description": "moves > 5 pp"},
    {"trigger_id": "cross", "kind": "ci_crosses", "outcome": "vod", "threshold": 10.0, "adopted": "2025-01-01",
     "description": "VOD CI and 10%"},
    {"trigger_id": "big", "kind": "new_study_size", "outcome": None, "threshold": 100.0, "adopted": "2025-01-01",
     "description": "n >= 100"},
    {"trigger_id": "grade", "kind": "certainty_change", "outcome": None, "threshold": float("nan"),
     "adopted": "2027-01-01", "description": "certainty"},
])
LABELS = {"overall_response": "Overall response", "vod": "VOD"}


def _fired(old, new, added, **kw):
    return {t.trigger_id: t for t in hs.evaluate_triggers(PROTOCOL, "2026-01-01", old, new, added, LABELS, **kw)}


def test_triggers_fire_and_do_not_fire():
    old = _results([("overall_response", "overall", "", 5, 80, 100, 0.80, 0.70, 0.88, 0.5, 0.95, 50.0),
                    ("vod", "overall", "", 4, 8, 100, 0.08, 0.05, 0.095, 0.02, 0.2, 10.0)])
    near = _results([("overall_response", "overall", "", 6, 84, 110, 0.84, 0.75, 0.90, 0.5, 0.95, 50.0),
                     ("vod", "overall", "", 5, 9, 110, 0.085, 0.06, 0.099, 0.02, 0.2, 10.0)])
    small = pd.DataFrame({"label": ["Small"], "n_treated": [40]})
    t = _fired(old, near, small)
    assert (t["shift"].fired, t["cross"].fired, t["big"].fired) == (False, False, False)  # 4.0 pp, CI stays below
    assert t["grade"].fired is None and t["grade"].evidence == hs.CERTAINTY_NOT_ASSESSED
    assert t["grade"].retrospective and not t["shift"].retrospective
    far = _results([("overall_response", "overall", "", 6, 86, 100, 0.8501, 0.75, 0.90, 0.5, 0.95, 50.0),
                    ("vod", "overall", "", 5, 12, 110, 0.11, 0.08, 0.14, 0.02, 0.2, 10.0)])
    big = pd.DataFrame({"label": ["Big"], "n_treated": [100]})
    t = _fired(old, far, big, certainty_old={"vod": "low"}, certainty_new={"vod": "moderate"})
    assert (t["shift"].fired, t["cross"].fired, t["big"].fired, t["grade"].fired) == (True, True, True, True)
    assert "Overall response 80.0% → 85.0% (+5.0 pp)" in t["shift"].evidence
    assert "(below 10%)" in t["cross"].evidence and "(including 10%)" in t["cross"].evidence
    assert t["big"].evidence == "Big (100 patients)"
    assert t["grade"].evidence == "VOD: low → moderate"
    same = _fired(old, far, big, certainty_old={"vod": "low"}, certainty_new={"vod": "low"})["grade"]
    assert same.fired is False


def test_ci_side_and_cautions():
    assert [hs.ci_side(lo, hi, 10) for lo, hi in ((0.02, 0.099), (0.05, 0.12), (0.101, 0.3))] == [
        "below", "including", "above"]
    row = lambda k, lo, hi: {"k": k, "ci_low": lo, "ci_high": hi}  # noqa: E731
    assert hs.cautions_for(row(5, 0.1, 0.2), row(6, 0.15, 0.25)) == (hs.CAUTION_OVERLAP,)
    assert hs.cautions_for(row(5, 0.1, 0.2), row(6, 0.21, 0.3)) == ()
    assert hs.cautions_for(None, row(2, 0.1, 0.2)) == (hs.CAUTION_FEW,)
    assert hs.cautions_for(row(1, 0.1, 0.2), row(3, 0.1, 0.2)) == (hs.CAUTION_FEW, hs.CAUTION_OVERLAP)


def test_update_classes():
    base = dict(version=2, previous=1, date="", search_date="", search_basis="", description="", frozen=True,
                previous_frozen=True, flow=None, removed=pd.DataFrame(), corrections=(), moves=())
    fired = (hs.TriggerResult("x", "estimate_shift", "", True, "", False),)
    quiet = (hs.TriggerResult("x", "estimate_shift", "", False, "", False),)
    run = (hs.SourceSearch("pubmed", "edat", "2025-01-01", "2025-02-01", 1, 3, 3),)
    one = pd.DataFrame({"study_id": ["s"]})
    none = one.iloc[0:0]
    cls = lambda **kw: hs.WhatsNew(**{**base, **kw}).update_class  # noqa: E731
    assert cls(searches=run, added=none, triggers=quiet) == "new search, no new studies"
    assert cls(searches=run, added=one, triggers=quiet) == "new search, new studies, conclusions unchanged"
    assert cls(searches=run, added=one, triggers=fired) == "new search, new studies, conclusions changed"
    assert cls(searches=(), added=one, triggers=fired) == \
        "new studies without a new systematic search, conclusions changed"
    assert cls(previous=None, searches=(), added=one, triggers=()) == "first version"


def test_real_data_versions_are_frozen_and_version_2_claims_no_search():
    from livingreview.config import DATA_DIR

    ds = load_dataset(DATA_DIR)
    assert hs.frozen_versions(ds) == (1, 2)
    w = hs.whats_new(ds, 2)
    assert not w.search_recorded and w.flow is None
    assert w.update_class.startswith("new studies without a new systematic search")
    fd = hs.flow_diagram(ds, 2)
    assert (fd.previous_studies, fd.other_methods, fd.total_studies, fd.search) == (16, 2, 18, None)


# --- command line --------------------------------------------------------------------------------------------------

def test_search_without_network_is_one_line_and_changes_nothing(tmp_path, monkeypatch, capsys):
    from livingreview import cli
    from livingreview.surveillance import NoNetworkError, init
    from livingreview.surveillance.transport import HttpTransport

    data = copy_synthetic(tmp_path)
    (data / "search_strategies.csv").unlink()
    init(data)

    def offline(self, host):
        raise NoNetworkError(host, "offline in this test")

    monkeypatch.setattr(HttpTransport, "check", offline)
    before = {p: p.read_bytes() for p in data.rglob("*") if p.is_file()}
    assert cli.main(["search", "--data", str(data)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["search: no network: cannot reach eutils.ncbi.nlm.nih.gov (offline in this test); nothing was "
                   "changed"]
    assert {p: p.read_bytes() for p in data.rglob("*") if p.is_file()} == before


def test_flow_and_freeze_commands(tmp_path, capsys):
    from livingreview import cli

    data = copy_synthetic(tmp_path)
    assert cli.main(["flow", "--data", str(data), "--version", "2"]) == 1
    assert "no search run is recorded for data version 2" in capsys.readouterr().err
    assert cli.main(["freeze", "--data", str(data), "--version", "2", "--date", "2025-07-01"]) == 0
    out = capsys.readouterr().out
    assert f"{len(hs.SNAPSHOT_TABLES)} tables copied" in out and "0 search run(s) assigned data_version 2" in out
    assert cli.main(["freeze", "--data", str(data), "--version", "2"]) == 1
    assert "frozen already" in capsys.readouterr().err


def test_the_build_never_searches():
    """No module of the build imports the surveillance layer (so it cannot reach the network)."""
    from livingreview.config import ROOT

    for path in (ROOT / "livingreview" / "build").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "import livingreview.surveillance" not in text and "from livingreview.surveillance" not in text, path
