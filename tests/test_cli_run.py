"""``python -m livingreview run``: one notebook executed with a learner's parameters; invalid ones refused."""

from __future__ import annotations

import subprocess
import sys

import nbformat
import pytest

from livingreview import format as fmt
from livingreview.build.run import RunError, parse_parameters, resolve_template
from livingreview.cli import main
from livingreview.config import DATA_DIR, MEASURES, ROOT, Spec
from livingreview.dataset import load_dataset
from livingreview.review.outcomes import results_table


def cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "livingreview", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600)


def injected(nb) -> str:
    """The learner's values, written into the template's one parameters cell (papermill's own cell is dropped)."""
    tagged = lambda tag: [c for c in nb.cells if tag in c.metadata.get("tags", [])]  # noqa: E731
    assert tagged("injected-parameters") == [], "papermill's injected cell should have been merged"
    cells = tagged("parameters")
    assert len(cells) == 1, "the notebook should have exactly one parameters cell"
    return cells[0].source


def output_text(nb) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            parts.extend(str(data.get(k, "")) for k in ("text/markdown", "text/html", "text/plain"))
    return "\n".join(parts)


@pytest.fixture(scope="module")
def vod_runs(tmp_path_factory):
    """The outcome page of VOD executed twice: logit and Freeman–Tukey (REML), each in its own directory."""
    out = {}
    for measure in ("PLO", "PFT"):
        d = tmp_path_factory.mktemp(f"run-{measure}")
        proc = cli("run", "vod", "--param", f"measure={measure}", "--param", "method=REML", "--out", str(d))
        assert proc.returncode == 0, proc.stderr
        out[measure] = (d, proc)
    return out


def test_run_executes_one_notebook_with_the_parameters(vod_runs):
    table = {m: results_table(load_dataset(DATA_DIR), Spec(m, "REML"), outcomes=["vod"]) for m in ("PLO", "PFT")}
    shown = {}
    for measure, (d, proc) in vod_runs.items():
        notebooks = list(d.glob("*.ipynb"))
        assert len(notebooks) == 1
        assert f"Executed notebook: {notebooks[0]}" in proc.stdout
        nb = nbformat.read(notebooks[0], as_version=4)
        params = injected(nb)
        assert f'measure = "{measure}"' in params and 'method = "REML"' in params and 'outcome = "vod"' in params
        overall = table[measure][table[measure]["subgroup"] == "overall"].iloc[0]
        shown[measure] = f"{fmt.pct(overall['estimate'])} (95% CI: {fmt.interval(overall['ci_low'], overall['ci_high'])}"
        assert shown[measure] in output_text(nb), f"{measure}: the pooled estimate {shown[measure]} is not in the output"
        assert nb.metadata["livingreview"]["inputs"]  # tidied as the build tidies
        html = notebooks[0].with_suffix(".html")
        assert f"HTML copy: {html}" in proc.stdout
        page = html.read_text(encoding="utf-8")
        assert "<img" in page and "{glue" not in page and shown[measure].split(" (")[0] in page
    assert shown["PLO"] != shown["PFT"]  # the parameter changed the numbers


def test_hartung_knapp_shorthand_and_a_primer_chapter(tmp_path):
    proc = cli("run", "vod", "--template", "primer_intervals", "--param", "hartung_knapp=true", "--param",
               "pi_dist=t1", "--out", str(tmp_path), "--no-html")
    assert proc.returncode == 0, proc.stderr
    nb = nbformat.read(next(tmp_path.glob("primer_intervals-vod*.ipynb")), as_version=4)
    params = injected(nb)
    assert 'test = "knha"' in params and 'pi_dist = "t1"' in params
    assert "Hartung–Knapp" in output_text(nb)
    assert not list(tmp_path.glob("*.html"))


def test_invalid_parameter_name_lists_the_valid_ones():
    proc = cli("run", "vod", "--param", "estimator=REML")
    assert proc.returncode == 2
    assert "unknown parameter 'estimator'" in proc.stderr
    for name in ("outcome", "measure", "method", "test", "pi_dist", "hartung_knapp"):
        assert name in proc.stderr


def test_invalid_parameter_value_lists_the_valid_ones():
    proc = cli("run", "vod", "--param", "measure=LOGIT")
    assert proc.returncode == 2
    assert "invalid value 'LOGIT' for measure" in proc.stderr
    assert all(m in proc.stderr for m in MEASURES)
    proc = cli("run", "vod", "--param", "hartung_knapp=maybe")
    assert proc.returncode == 2 and "true" in proc.stderr and "adhoc" in proc.stderr


def test_invalid_outcome_and_template(capsys):
    assert main(["run", "not_an_outcome"]) == 2
    err = capsys.readouterr().err
    assert "overall_response" in err and "vod" in err
    assert main(["run", "vod", "--template", "nope"]) == 2
    err = capsys.readouterr().err
    assert "primer_transformations" in err and "outcome" in err


def test_list_parameters(capsys):
    assert main(["run", "--template", "primer_small_study_effects", "--list"]) == 0
    out = capsys.readouterr().out
    assert "seed = 20250601" in out and "n_sims" in out and "hartung_knapp" in out


def test_parse_parameters_types_and_conflicts():
    ds = load_dataset(DATA_DIR)
    t = resolve_template("primer_small_study_effects")
    p = parse_parameters(["n_sims=50", "force=true", "publish_prob=0.5", "k_values=[10,20]", "measure=pas",
                          "hartung_knapp=adhoc"], t, "VOD", ds)
    assert p == {"n_sims": 50, "force": True, "publish_prob": 0.5, "k_values": [10, 20], "measure": "PAS",
                 "test": "adhoc", "outcome": "vod"}
    with pytest.raises(RunError, match="integer"):
        parse_parameters(["n_sims=many"], t, None, ds)
    with pytest.raises(RunError, match="contradicts"):
        parse_parameters(["test=z", "hartung_knapp=true"], t, None, ds)
    with pytest.raises(RunError, match="--data-version"):
        parse_parameters(["data_version=1"], t, None, ds)
    # the template's default outcome is used when none is given (page titles need it)
    assert parse_parameters([], resolve_template("outcome"), None, ds) == {"outcome": "overall_response"}
    with pytest.raises(RunError, match="no outcome parameter"):
        parse_parameters([], resolve_template("quality"), "vod", ds)


def test_a_template_accepts_only_the_parameters_its_page_uses():
    """A page with no analysis choice refuses analysis parameters instead of silently ignoring them."""
    ds = load_dataset(DATA_DIR)
    with pytest.raises(RunError, match="unknown parameter 'measure' for template quality"):
        parse_parameters(["measure=PFT"], resolve_template("quality"), None, ds)
    with pytest.raises(RunError, match="no cell tagged 'parameters'"):
        parse_parameters(["measure=PFT"], resolve_template("methods"), None, ds)
