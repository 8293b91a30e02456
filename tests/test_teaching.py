"""Teaching that holds up when a learner changes the parameters (issue 18).

- Every primer chapter, run with every allowed value of each analysis parameter (and of ``subgroup``), says what it
  computed: the sentences that name a choice name the one used, no exercise compares a choice with itself, and the
  numbers next to those words are the engine's under that choice. The outcome page's sentences likewise.
- ``run --compare`` puts two specifications side by side; ``run --standalone`` writes a notebook that runs in an
  empty directory with only its zip and the installed package, and whose own parameters cell is the one that
  counts; the ``run`` HTML keeps answers closed.
- The R code beside each chapter's Python call, run by Rscript with metafor, prints the chapter's numbers.
"""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
import sys
import zipfile

import nbformat
import pytest

from livingreview import format as fmt
from livingreview.build.render import render_template
from livingreview.build.run import prepare
from livingreview.config import (
    MEASURE_LABELS,
    MEASURES,
    METHODS,
    NOTEBOOKS_DIR,
    PI_DISTS,
    PI_LABELS,
    PI_SHORT,
    PRIMARY,
    ROOT,
    SUBGROUPS,
    TEST_SHORT,
    TESTS,
)
from livingreview.engine.effects import escalc
from livingreview.engine.model import rma

CHAPTERS = ("primer_transformations", "primer_heterogeneity", "primer_intervals", "primer_subgroups",
            "primer_small_study_effects", "primer_sensitivity")
FAST = {"primer_small_study_effects": {"n_sims": 20, "k_values": (5, 10)}}
VALUES = {"measure": MEASURES, "method": METHODS, "test": TESTS, "pi_dist": PI_DISTS}
CASES = [(t, name, v) for t in CHAPTERS for name, values in VALUES.items() for v in values]
CASES += [("primer_subgroups", "subgroup", v) for v in SUBGROUPS]
REFUSED = {("primer_intervals", "method", "FE")}  # a common-effect model has no prediction interval to teach


def flat(text: str) -> str:
    return " ".join(text.split())


def chapter_text(template: str, **params):
    """The chapter loaded with ``params`` and every Markdown cell of its rendered template, glue filled in."""
    pairs = [f"{k}={v}" for k, v in params.items()]
    job = prepare(template, None, pairs)
    nb = render_template(job.path, job.context)
    module = importlib.import_module(f"livingreview.book.{template}")
    kwargs = {k: v for k, v in job.chosen.items() if k != "outcome"}
    ch = module.load(job.chosen["outcome"], **kwargs, **FAST.get(template, {}))
    text = "\n\n".join(ch.text(c.source) for c in nb.cells if c.cell_type == "markdown")
    return ch, flat(ch.spec_sentence().data + "\n\n" + text)


def expected_phrases(template: str, ch, name: str, value) -> list[str]:
    """Sentences that must name the choice the page used."""
    s = ch.spec
    common = [f"Analysis on this page: **{s.describe()}**"]
    if template == "primer_transformations":
        return common + [f"this page's inverse-variance analysis ({s.describe()})"]
    if template == "primer_heterogeneity":
        own = "this page's estimator — estimates" if s.method != "FE" else "common-effect model, which sets τ² = 0"
        return common + [f"(here the {MEASURE_LABELS[s.measure]} scale)", own]
    if template == "primer_intervals":
        return common + [f"this page takes it from {PI_LABELS[s.pi_dist]}", f"95% PI ({PI_SHORT[s.pi_dist]})",
                         f", {TEST_SHORT[s.test]}), and the 95% PI"]
    if template == "primer_subgroups":
        other = next(c for c in SUBGROUPS if c != ch.column)
        own = "with a common-effect model" if s.method == "FE" else f"with its own τ² ({s.method};"
        return common + [f"By {SUBGROUPS[ch.column].lower()}:", f"also a difference in {SUBGROUPS[other].lower()}", own]
    if template == "primer_small_study_effects":
        return common + [f"on the {MEASURE_LABELS[s.measure]} scale)"]
    return common + [f"this page's 95% confidence interval ({TEST_SHORT[s.test]})"]


#: Sentences that named a fixed choice before issue 18; they may appear only when the page made that choice.
STALE = {
    "primer_intervals": [("with a t distribution on k − 2 degrees of freedom)", lambda s: False),
                         ("with t(k − 1) instead of t(k − 2)", lambda s: False)],
    "primer_heterogeneity": [("REML estimates τ² =", lambda s: False)],
    "primer_transformations": [("for the book's primary inverse-variance analysis", lambda s: False)],
    "primer_subgroups": [("survive on the arcsine scale", lambda s: s.measure != "PAS")],
    "primer_small_study_effects": [("with the arcsine measure (`measure=\"PAS\"`)", lambda s: s.measure != "PAS"),
                                   ("on the transformed scale", lambda s: False)],
    "primer_sensitivity": [("τ² falls from", lambda s: True), ("width of the primary confidence interval",
                                                             lambda s: False)],
}
#: The exercises that compare the page's choice of a parameter with another one.
CONTRASTED = {"primer_intervals": ("pi_dist",), "primer_subgroups": ("measure", "subgroup"),
              "primer_small_study_effects": ("measure",), "primer_transformations": ("method",)}
CONTRAST_WORDS = {"pi_dist": PI_SHORT, "measure": MEASURE_LABELS, "method": {m: m for m in METHODS},
                  "subgroup": {k: v.lower() for k, v in SUBGROUPS.items()}}


@pytest.mark.parametrize("template,name,value", CASES, ids=[f"{t}-{n}={v}" for t, n, v in CASES])
def test_every_chapter_says_what_it_computed(template, name, value):
    if (template, name, value) in REFUSED:
        from livingreview.build.run import RunError
        with pytest.raises(RunError, match="no prediction interval"):
            prepare(template, None, [f"{name}={value}"])
        return
    ch, text = chapter_text(template, **{name: value})
    if name in VALUES:
        assert getattr(ch.spec, name) == value
    assert "?)*" not in text and "{glue" not in text, f"{template}: a glued name has no value"
    for phrase in expected_phrases(template, ch, name, value):
        assert flat(phrase) in text, f"{template} with {name}={value}: missing {phrase!r}"
    for phrase, allowed in STALE.get(template, []):
        assert flat(phrase) not in text or allowed(ch.spec), f"{template} with {name}={value}: says {phrase!r}"
    # exercises compare the page's choice with another one, and name both
    for param, (used, other) in ch.contrasts.items():
        assert used != other
        words = CONTRAST_WORDS[param]
        assert flat(words[other]) in text and flat(words[used]) in text, (template, param, used, other)
    if name in CONTRASTED.get(template, ()):
        assert name in ch.contrasts, f"{template}: an exercise should contrast {name}"


@pytest.mark.parametrize("pi_dist", PI_DISTS)
def test_intervals_chapter_states_the_engines_interval_for_the_choice(pi_dist):
    """The numbers beside the words: the PI the chapter states is the engine's PI with that distribution."""
    ch, text = chapter_text("primer_intervals", pi_dist=pi_dist)
    studies = __import__("livingreview.review.outcomes", fromlist=["x"]).analyse_outcome(
        __import__("livingreview.dataset", fromlist=["x"]).load_dataset(ROOT / "data"), ch.outcome).studies
    p = rma(escalc(PRIMARY.measure, studies["events"], studies["total"]), method=PRIMARY.method,
            pi_dist=pi_dist).proportion()
    assert f"runs from {100 * p.pi_low:.1f}% to {100 * p.pi_high:.1f}%" in text
    other = ch.contrasts["pi_dist"][1]
    q = rma(escalc(PRIMARY.measure, studies["events"], studies["total"]), method=PRIMARY.method,
            pi_dist=other).proportion()
    assert f"With {PI_SHORT[other]} the PI is {fmt.interval(q.pi_low, q.pi_high)}" in ch.markdown["ex2_answer"]


@pytest.mark.parametrize("method", METHODS)
def test_outcome_page_names_the_model_used(method):
    from livingreview.book.outcome import choice_words, load
    page = load("overall_response", method=method)
    text = page.sentence().data
    model = "common-effect" if method == "FE" else "random-effects"
    assert f"With a {model} model ({page.analysis.spec.describe()})" in text
    words = choice_words(page.analysis.spec)
    assert ("τ² = 0" in words["subgroup_pooling"]) == (method == "FE")
    assert ("prediction interval (" in words["pi_caption"]) == (method != "FE")


def test_every_chapter_has_objectives_check_yourself_r_code_and_a_setup_cell():
    for template in CHAPTERS:
        nb = nbformat.read(NOTEBOOKS_DIR / f"{template}.ipynb", as_version=4)
        sources = [c.source for c in nb.cells]
        assert nb.cells[1].source.startswith("**After this chapter you can**"), template
        assert sum("{glue:md}`check_answer`" in s for s in sources) == 1
        assert any("```{glue:md} r_code" in s for s in sources)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert "parameters" in code[0].metadata["tags"] and code[1].id == "setup", template
        assert "remove-cell" in code[1].metadata["tags"]  # the book's readers do not need it


# ------------------------------------------------------------------------------------ the command


def cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "livingreview", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600)


def test_compare_puts_two_specifications_side_by_side(tmp_path):
    proc = cli("run", "vod", "--param", "method=DL", "--compare", "hartung_knapp=true", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    page = next(tmp_path.glob("*-vs-*.html")).read_text(encoding="utf-8")
    a, b = PRIMARY.with_(method="DL"), PRIMARY.with_(method="DL", test="knha")
    assert a.describe() in page and b.describe() in page
    assert page.count('<img alt="Forest plot') == 2 and 'class="side-by-side"' in page
    from livingreview.dataset import load_dataset
    from livingreview.review.outcomes import results_table
    ds = load_dataset(ROOT / "data")
    for spec in (a, b):
        r = results_table(ds, spec, outcomes=["vod"]).iloc[0]
        assert f"<td>{fmt.interval(r['ci_low'], r['ci_high'])}</td>" in page  # each CI, computed by the engine
    assert "Changed: the test for the pooled estimate from Wald z to Hartung–Knapp" in page
    assert "the estimate and τ² do not change" in page
    bad = cli("run", "vod", "--compare", "outcome=sct")
    assert bad.returncode == 2 and "name one analysis choice" in bad.stderr
    same = cli("run", "vod", "--compare", "method=REML")
    assert same.returncode == 2 and "the same" in same.stderr


def test_run_html_keeps_answers_closed(tmp_path):
    proc = cli("run", "vod", "--template", "primer_intervals", "--param", "pi_dist=t1", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    page = next(tmp_path.glob("*.html")).read_text(encoding="utf-8")
    answers = re.findall(r"<details>\s*<summary>Answer \(computed\)</summary>", page)
    assert len(answers) == 4  # three exercises and the check-yourself question
    assert "<details open" not in page and "**Answer" not in page
    assert "With t(k−2) the PI is" in page and "with t(k−1), this page's choice" in page


@pytest.fixture(scope="module")
def standalone_zip(tmp_path_factory):
    out = tmp_path_factory.mktemp("standalone")
    proc = cli("run", "vod", "--template", "primer_intervals", "--param", "pi_dist=t1", "--standalone", "--out",
               str(out))
    assert proc.returncode == 0, proc.stderr
    return next(out.glob("*.zip"))


def execute_in(directory, notebook):
    """Run a notebook as a learner would: in its own directory, nothing injected, with the installed package."""
    from nbclient import NotebookClient

    from livingreview.build.execute import kernel_environment
    nb = nbformat.read(notebook, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(directory)}})
    env = kernel_environment()
    old = {k: __import__("os").environ.get(k) for k in ("PYTHONPATH", "LIVINGREVIEW_CHECKOUT")}
    __import__("os").environ.update({k: env[k] for k in old})
    try:
        client.execute()
    finally:
        for k, v in old.items():
            if v is None:
                __import__("os").environ.pop(k, None)
            else:
                __import__("os").environ[k] = v
    return nb


def outputs(nb) -> str:
    return "\n".join(str(o.get("data", {}).get("text/markdown", "")) for c in nb.cells for o in c.get("outputs", []))


def test_standalone_notebook_runs_from_its_zip_alone(standalone_zip, tmp_path):
    with zipfile.ZipFile(standalone_zip) as z:
        z.extractall(tmp_path)
        assert {n.split("/")[0] for n in z.namelist()} == {standalone_zip.with_suffix(".ipynb").name, "data"}
        assert not any("staging" in n for n in z.namelist())  # curation notes never travel
    notebook = tmp_path / standalone_zip.with_suffix(".ipynb").name
    nb = nbformat.read(notebook, as_version=4)
    assert "pip install" in nb.cells[0].source and nb.cells[0].cell_type == "markdown"
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and "pi_dist = 't1'" in params[0].source and "data_dir = 'data'" in params[0].source
    assert not any("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells)
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code")
    ran = execute_in(tmp_path, notebook)
    text = flat(outputs(ran))
    assert "prediction interval with t(k−1)" in text and "this page takes it from the t distribution with k − 1" in text
    assert "{glue" not in text and "?)*" not in text
    assert "<summary>Answer (computed)</summary>" in text


def test_standalone_parameters_cell_is_the_one_that_counts(standalone_zip, tmp_path):
    with zipfile.ZipFile(standalone_zip) as z:
        z.extractall(tmp_path)
    notebook = tmp_path / standalone_zip.with_suffix(".ipynb").name
    nb = nbformat.read(notebook, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    cell.source = cell.source.replace("pi_dist = 't1'", "pi_dist = 'z'").replace("method = None", "method = 'DL'")
    nbformat.write(nb, notebook)
    text = flat(outputs(execute_in(tmp_path, notebook)))
    assert "DerSimonian–Laird τ², Wald z CI, prediction interval with z" in text
    assert "this page takes it from the normal distribution" in text
    assert "prediction interval with t(k−1)" not in text


def test_standalone_is_for_primer_chapters():
    proc = cli("run", "vod", "--standalone")
    assert proc.returncode == 2 and "primer" in proc.stderr


# ------------------------------------------------------------------------------------ the R beside each chapter


def r_available() -> str:
    if shutil.which("Rscript") is None:
        return "Rscript not installed"
    probe = subprocess.run(["Rscript", "-e", "suppressMessages(library(metafor))"], capture_output=True, text=True)
    return "" if probe.returncode == 0 else f"metafor missing: {probe.stderr.strip()[-200:]}"


def printed_numbers(output: str) -> dict[str, float]:
    """Named vectors as R prints them: a line of names, then a line of values."""
    lines = [ln.split() for ln in output.splitlines() if ln.strip()]
    found = {}
    for names, values in zip(lines, lines[1:]):
        if len(names) == len(values) and all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", n) for n in names):
            try:
                found.update(zip(names, map(float, values)))
            except ValueError:
                continue
    return found


R_CASES = [("primer_transformations", {}), ("primer_transformations", {"method": "DL"}),
           ("primer_heterogeneity", {}), ("primer_heterogeneity", {"method": "PM", "measure": "PAS"}),
           ("primer_intervals", {}), ("primer_intervals", {"pi_dist": "t1", "measure": "PFT"}),
           ("primer_intervals", {"pi_dist": "z", "test": "knha", "method": "DL"}),
           ("primer_subgroups", {}), ("primer_subgroups", {"subgroup": "regimen", "measure": "PR"}),
           ("primer_small_study_effects", {}), ("primer_small_study_effects", {"measure": "PAS"}),
           ("primer_sensitivity", {}), ("primer_sensitivity", {"measure": "PFT", "method": "DL"})]


@pytest.mark.parametrize("template,params", R_CASES, ids=[f"{t}-{p}" for t, p in R_CASES])
def test_r_code_prints_the_chapters_numbers(template, params, tmp_path):
    why = r_available()
    if why:
        pytest.skip(f"R snippets not run: {why}")
    outcome = "vod" if template == "primer_intervals" else "overall_response"
    ch = importlib.import_module(f"livingreview.book.{template}").load(outcome, **params, **FAST.get(template, {}))
    code = ch.markdown["r_code"].removeprefix("~~~r\n").removesuffix("\n~~~")
    script = tmp_path / "chapter.R"
    script.write_text(code, encoding="utf-8")
    proc = subprocess.run(["Rscript", str(script)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    printed = printed_numbers(proc.stdout)
    checked = {k: v for k, v in printed.items() if k in ch.numbers}
    assert len(checked) >= 2, f"{template}: the R code prints none of the chapter's numbers ({sorted(printed)})"
    for name, value in checked.items():
        assert value == pytest.approx(ch.numbers[name], abs=1e-4 * max(1, abs(value)) + 5e-5), name
