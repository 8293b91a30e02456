"""The methods primer: its key claims hold, are computed by the package, and are what the chapters show.

Each claim is recomputed here from the engine (escalc, rma, rma_glmm, egger_test …) without going through
:mod:`livingreview.primer`, then compared with what the primer functions return, with the numbers a chapter glues
(the primer's page modules in :mod:`livingreview.book`), and — for the Freeman–Tukey claim — with the executed chapter and the built book.
"""

from __future__ import annotations

import html as htmllib
import importlib
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest

from livingreview.build.manifest import load_manifest
from livingreview.config import DATA_DIR, MANIFEST, NOTEBOOKS_DIR, PRIMARY, ROOT, SENSITIVITY_SPECS
from livingreview.dataset import load_dataset
from livingreview.engine.effects import escalc, ipft_hm
from livingreview.engine.glmm import rma_glmm
from livingreview.engine.model import rma
from livingreview.review import primer
from livingreview.review.outcomes import analyse_outcome

CHAPTERS = {  # template (and page module) → output in the manifest
    "primer_transformations": "primer/transformations.ipynb",
    "primer_heterogeneity": "primer/heterogeneity.ipynb",
    "primer_intervals": "primer/intervals.ipynb",
    "primer_subgroups": "primer/subgroups.ipynb",
    "primer_small_study_effects": "primer/small-study-effects.ipynb",
    "primer_sensitivity": "primer/sensitivity.ipynb",
}
FAST = {"primer_small_study_effects": {"n_sims": 40, "k_values": (5, 10)}}  # keep the unit tests quick


def chapter(template: str, *args, **kwargs):
    """A chapter as its notebook loads it (``livingreview.book.<template>.load``)."""
    return importlib.import_module(f"livingreview.book.{template}").load(*args, **kwargs)


@pytest.fixture(scope="module")
def ds():
    return load_dataset(DATA_DIR)


def manifest_pages():
    return {p.name: p for p in load_manifest(MANIFEST).pages if p.name.startswith("primer_")}


def counts(ds, outcome):
    s = analyse_outcome(ds, outcome).studies
    return s["events"].to_numpy(), s["total"].to_numpy(), tuple(s["display_label"])


# ------------------------------------------------------------------------------------ chapter 1: FT vs GLMM


def ft_gap_from_engine(x, n, method="REML"):
    """The chapter's claim, from the engine alone: pooled FT value, Miller's inverse at the harmonic mean of n,
    minus the GLMM estimate, in percentage points."""
    res = rma(escalc("PFT", x, n), method=method)
    hm = len(n) / np.sum(1.0 / n)
    ft = float(ipft_hm([res.estimate], [hm])[0])
    glmm = float(rma_glmm(x, n).proportion().estimate)
    return 100 * (ft - glmm), ft, glmm


def test_ft_backtransform_matches_the_engine(ds):
    outcome = manifest_pages()["primer_transformations"].parameters["outcome"]
    x, n, labels = counts(ds, outcome)
    gap, ft, glmm = ft_gap_from_engine(x, n)
    r = primer.ft_backtransform(x, n, labels, method="REML")
    assert r.ft_gap_pp == pytest.approx(gap, abs=1e-9)
    assert r.choices["proportion"].iloc[0] == pytest.approx(ft, abs=1e-12)
    assert r.glmm == pytest.approx(glmm, abs=1e-12)
    # the harmonic-mean row is what the engine's own back-transform of a PFT model gives (transf.ipft.hm)
    assert r.choices["proportion"].iloc[0] == pytest.approx(rma(escalc("PFT", x, n)).proportion().estimate, abs=1e-12)
    # with its own n, Miller's inverse returns each study's observed proportion
    own = [ipft_hm([y], [m])[0] for y, m in zip(escalc("PFT", x, n).yi, n)]
    np.testing.assert_allclose(own, x / n, atol=1e-9)
    # the n choices really differ, and the gap to the GLMM is not an artefact of rounding
    assert r.n_spread_pp > 0.01
    assert abs(r.ft_gap_pp) > 0.05


def test_ft_claim_is_what_the_chapter_glues(ds):
    outcome = manifest_pages()["primer_transformations"].parameters["outcome"]
    x, n, _ = counts(ds, outcome)
    gap, ft, glmm = ft_gap_from_engine(x, n)
    ch = chapter("primer_transformations", outcome)
    assert ch.numbers["ft_gap"] == pytest.approx(gap, abs=1e-5)
    assert ch.numbers["ft_gap_abs"] == pytest.approx(abs(gap), abs=1e-5)
    assert ch.numbers["ft_hm"] == pytest.approx(100 * ft, abs=1e-5)
    assert ch.numbers["ft_glmm"] == pytest.approx(100 * glmm, abs=1e-5)
    assert ch.markdown["ft_gap_direction"] == ("higher" if gap > 0 else "lower")


def test_extreme_studies_follow_metafors_corrections():
    e = primer.extreme_studies(20).set_index(["measure", "events"])
    # PLO at 0/20: ½ added to events and non-events
    assert e.loc[("PLO", 0), "yi"] == pytest.approx(np.log(0.5 / 20.5))
    assert e.loc[("PLO", 0), "vi"] == pytest.approx(1 / 0.5 + 1 / 20.5)
    assert e.loc[("PLO", 0), "add"] == 0.5 and e.loc[("PFT", 0), "add"] == 0.0
    assert e.loc[("PFT", 0), "back"] == pytest.approx(0.0, abs=1e-12)
    assert e.loc[("PR", 0), "weight_ratio"] > 1 > e.loc[("PLO", 0), "weight_ratio"]


# ------------------------------------------------------------------------------------ chapter 2: I² vs n


def test_i2_demo_same_tau2_different_study_sizes(ds):
    x, n, _ = counts(ds, "overall_response")
    demo = primer.i2_vs_study_size(x, n, PRIMARY)
    res = rma(escalc(PRIMARY.measure, x, n), method=PRIMARY.method)
    # at the studies' own size the demo reproduces the engine's τ²-based I² (so ṽ is metafor's typical variance)
    row1 = demo.table.set_index("factor").loc[1.0]
    assert row1["i2"] == pytest.approx(res.i2, rel=1e-10)
    assert demo.i2_at_1 == pytest.approx(res.i2, rel=1e-10)
    assert row1["h2"] == pytest.approx(res.h2, rel=1e-10)
    # τ² fixed, only the sizes change — and I² changes with them, monotonically
    assert demo.tau2 == pytest.approx(res.tau2)
    i2 = demo.table["i2"].to_numpy()
    assert np.all(np.diff(i2) > 0) and i2[0] < res.i2 < i2[-1]
    for f, v in zip(demo.table["factor"], demo.table["i2"]):
        assert v == pytest.approx(100 * demo.tau2 / (demo.tau2 + demo.vt / f))
    # at f = ṽ/τ², I² is exactly 50%
    f50 = demo.factor_for_50
    assert 100 * demo.tau2 / (demo.tau2 + demo.vt / f50) == pytest.approx(50.0)
    ch = chapter("primer_heterogeneity", "overall_response")
    assert ch.numbers["demo_i2_1"] == pytest.approx(res.i2, abs=1e-5)
    assert ch.numbers["demo_i2_lo"] == pytest.approx(i2[0], abs=1e-5)
    assert ch.numbers["demo_i2_hi"] == pytest.approx(i2[-1], abs=1e-5)


def test_heterogeneity_table_identities(ds):
    t = primer.heterogeneity_table(ds, "PLO", methods=("DL", "REML", "PM"))
    for outcome, grp in t.groupby("outcome"):
        assert grp["q"].nunique() == 1  # Q does not depend on the τ² estimator
        dl = grp.set_index("method").loc["DL"]
        assert dl["i2"] == pytest.approx(dl["i2_q"], abs=1e-8)  # with DL, τ²-based I² = Q-based I²


# ------------------------------------------------------------------------------------ chapter 3: CI ⊂ PI


@pytest.mark.parametrize("name,spec", [(k, v) for k, v in SENSITIVITY_SPECS.items() if v.method != "FE"])
def test_ci_inside_pi_for_the_books_analyses(ds, name, spec):
    t = primer.interval_table(ds, spec, min_k=3)
    assert len(t) > 0
    assert t["ci_in_pi"].all(), f"{name}: PI does not contain the CI for {list(t.loc[~t['ci_in_pi'], 'outcome'])}"
    for _, r in t.iterrows():  # recomputed from the engine
        res = rma(escalc(spec.measure, *counts(ds, r["outcome"])[:2]), method=spec.method, test=spec.test,
                  pi_dist=spec.pi_dist)
        p = res.proportion()
        assert p.pi_low <= p.ci_low <= p.estimate <= p.ci_high <= p.pi_high
        assert r["pi_low"] == pytest.approx(p.pi_low) and r["ci_high"] == pytest.approx(p.ci_high)


def test_hartung_knapp_columns_match_the_engine(ds):
    t = primer.interval_table(ds, PRIMARY, min_k=3).set_index("outcome")
    for outcome, r in t.iterrows():
        x, n, _ = counts(ds, outcome)
        es = escalc(PRIMARY.measure, x, n)
        z, hk = rma(es, method="REML", test="z"), rma(es, method="REML", test="knha")
        assert r["hk_low"] == pytest.approx(hk.proportion().ci_low)
        # HK half-width / Wald half-width on the transformed scale = √factor · t/z
        assert (hk.ci_high - hk.estimate) / (z.ci_high - z.estimate) == pytest.approx(r["hk_multiplier"], rel=1e-9)
        assert r["hk_narrower"] == ((hk.ci_high - hk.ci_low) < (z.ci_high - z.ci_low))


def test_published_prediction_intervals_are_checked_from_the_data(ds):
    check = primer.published_interval_check(ds).set_index("outcome")
    pub = ds.published[(ds.published["subgroup"] == "overall")]
    pis = pub[pub["statistic"] == "pi_low"]["outcome"]
    assert set(check.index) == set(pis)
    for outcome, r in check.iterrows():
        v = pub[pub["outcome"] == outcome].set_index("statistic")["value"]
        assert r["contains_estimate"] == (v["pi_low"] <= v["estimate"] <= v["pi_high"])
        assert r["contains_ci"] == (v["pi_low"] <= v["ci_low"] and v["ci_high"] <= v["pi_high"])
    # the brief's worked example: VOD 6.2 (3.8–8.6) with a PI of 6.6–54.5 excludes its own estimate
    if "vod" in check.index:
        assert not check.loc["vod", "contains_estimate"]


# ------------------------------------------------------------------------------------ chapter 5: Egger power


def test_egger_power_simulation_is_deterministic_under_its_seed(ds):
    x, n, _ = counts(ds, "overall_response")
    kwargs = dict(k_values=(10,), n_sims=60, alpha=0.05, publish_prob=0.0)
    a = primer.egger_power(n, 0.85, 1.0, seed=7, **kwargs)
    b = primer.egger_power(n, 0.85, 1.0, seed=7, **kwargs)
    c = primer.egger_power(n, 0.85, 1.0, seed=8, **kwargs)
    assert a.table.equals(b.table)
    assert not a.table.equals(c.table)
    assert a.table[["egger", "egger_sqrtninv", "begg"]].apply(lambda s: s.between(0, 1).all()).all()


def test_egger_power_claims(ds):
    """The chapter's claims at its own settings, with fewer simulations: Egger's SE-based test rejects far more often
    than α without any selection for the logit of a proportion; the 1/√n version does not; the arcsine does not."""
    outcome = manifest_pages()["primer_small_study_effects"].parameters["outcome"]
    a = analyse_outcome(ds, outcome)
    p, tau2, n = a.overall.proportion().estimate, a.overall.tau2, a.studies["total"].to_numpy()
    sim = primer.egger_power(n, p, tau2, k_values=(10,), n_sims=200, seed=20250601)
    assert sim.rate("no selection", 10, "egger") > 0.25
    assert sim.rate("no selection", 10, "egger_sqrtninv") < 0.12
    pas = primer.egger_power(n, p, tau2, k_values=(10,), n_sims=200, seed=20250601, measure="PAS")
    assert pas.rate("no selection", 10, "egger") < 0.12


def test_egger_power_matches_the_chapter(ds):
    ch = chapter("primer_small_study_effects", "overall_response", n_sims=40, k_values=(5, 10))
    sim = ch.power
    assert sim.seed == 20250601 and sim.n_sims == 40
    again = primer.egger_power(analyse_outcome(ds, "overall_response").studies["total"].to_numpy(), sim.p, sim.tau2,
                               k_values=(5, 10), n_sims=40, seed=20250601, publish_prob=0.0)
    assert again.table.equals(sim.table)
    assert ch.numbers["fp_egger"] == pytest.approx(100 * sim.rate("no selection", 10, "egger"))
    assert ch.numbers["pw_egger_n"] == pytest.approx(100 * sim.rate("selection", 10, "egger_sqrtninv"))


def test_small_study_tests_refuse_below_ten_unless_forced(ds):
    res = analyse_outcome(ds, "vod").overall
    if res.k >= 10:
        pytest.skip("vod has 10 or more studies in this dataset")
    assert not primer.small_study_tests(res).applicable
    assert primer.small_study_tests(res, force=True).applicable


# ------------------------------------------------------------------------------------ chapters 4 and 6


def test_subgroup_and_sensitivity_numbers(ds):
    levels, test = primer.subgroup_table(ds, "overall_response", "disease_status")
    a = analyse_outcome(ds, "overall_response")
    sub = a.subgroups["disease_status"]
    assert test["q_between"] == pytest.approx(sub.q_between) and test["p"] == pytest.approx(sub.q_between_p)
    assert int(levels["k"].sum()) + test["excluded"] == a.k
    cross = primer.confounding_table(ds, "overall_response")
    assert int(cross.to_numpy().sum()) == a.k
    infl = primer.influence_summary(a.overall)
    assert infl.full == pytest.approx(a.overall.proportion().estimate)
    assert abs(infl.shift_pp) == pytest.approx(float(np.max(np.abs(100 * (infl.table["estimate"] - infl.full)))))
    assert infl.low == pytest.approx(infl.table["estimate"].min())
    grid = primer.specification_grid(*counts(ds, "overall_response")[:2], PRIMARY)
    assert int(grid["primary"].sum()) == 1
    assert grid.loc[grid["primary"], "estimate"].iloc[0] == pytest.approx(a.overall.proportion().estimate)


# ------------------------------------------------------------------------------------ templates and glue


def glue_keys(source: str) -> set[str]:
    keys = set(re.findall(r"\{glue(?::\w+)?\}`([A-Za-z0-9_]+)", source))
    keys |= set(re.findall(r"\{glue:figure\}\s+(\w+)", source))
    return keys


@pytest.mark.parametrize("template", sorted(CHAPTERS))
def test_every_glued_name_in_a_chapter_is_computed(template):
    nb = nbformat.read(NOTEBOOKS_DIR / f"{template}.ipynb", as_version=4)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and "data_version = None" in params[0].source and "measure = None" in params[0].source
    md = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    ch = chapter(template, **FAST.get(template, {}))
    figures = set(re.findall(r'glue_figure\("(\w+)"', code))
    known = set(ch.numbers) | set(ch.markdown) | figures
    missing = glue_keys(md) - known
    assert not missing, f"{template}: glued names with no value: {sorted(missing)}"
    # values are plain Python values, so {glue:text} can format them (np.float64 would print as 'np.float64(…)')
    assert all(type(v) in (int, float, str, bool) for v in ch.numbers.values())
    # exercises: two or three, each with a computed answer behind a toggle
    answers = re.findall(r"```\{dropdown\}[^\n]*\n\{glue:md\}`(ex\d_answer)`", md)
    assert 2 <= len(answers) <= 3 and set(answers) <= set(ch.markdown)
    assert "## Change it yourself" in md


def test_no_typed_numbers_in_the_prose():
    """Numbers in a chapter's prose come from glue; the only literal numbers allowed are structural ones."""
    allowed = {"0", "1", "2", "4", "½", "50", "95", "100", "2009", "2019", "2016", "10", "476"}
    for template in CHAPTERS:
        nb = nbformat.read(NOTEBOOKS_DIR / f"{template}.ipynb", as_version=4)
        for cell in nb.cells:
            if cell.cell_type != "markdown":
                continue
            text = re.sub(r"\{glue(?::\w+)?\}`[^`]*`", "", cell.source)
            text = re.sub(r"```.*?```", "", text, flags=re.S)  # code blocks and directives
            text = re.sub(r"`[^`]*`", "", text)
            text = re.sub(r"\{\{[^}]*\}\}|\{%[^%]*%\}", "", text)
            text = re.sub(r"(Exercise|chapter) \d", "", text)  # structure, not statistics
            numbers = set(re.findall(r"(?<![\w.])\d+(?:\.\d+)?", text))
            assert numbers <= allowed, f"{template}: literal numbers {sorted(numbers - allowed)} in: {cell.source[:80]}"


def test_manifest_and_toc_list_the_primer():
    pages = manifest_pages()
    assert {t: p.output for t, p in pages.items()} == CHAPTERS
    toc = (ROOT / "_toc.yml").read_text()
    assert "caption: Methods primer" in toc and "file: primer/index" in toc
    for out in CHAPTERS.values():
        assert f"file: {Path(out).with_suffix('').as_posix()}" in toc
    assert (ROOT / "book" / "primer" / "index.md").is_file()


# ------------------------------------------------------------------------------------ executed chapter and book


def test_executed_chapter_shows_the_ft_gap(ds, tmp_path):
    """Execute the chapter as the book does (via ``run``) and read the glued value and the HTML copy."""
    from livingreview.build.run import glued_outputs, run
    outcome = manifest_pages()["primer_transformations"].parameters["outcome"]
    result = run("primer_transformations", outcome, [], out_dir=tmp_path, log=lambda *_: None)
    nb = nbformat.read(result.notebook, as_version=4)
    glued = glued_outputs(nb)
    x, n, _ = counts(ds, outcome)
    gap, _, _ = ft_gap_from_engine(x, n)
    assert float(glued["ft_gap_abs"]["text/plain"]) == pytest.approx(abs(gap), abs=1e-5)
    page = result.html.read_text(encoding="utf-8")
    assert f"{abs(gap):.2f} points" in page and "{glue" not in page


def test_book_shows_the_primer(real_book, ds):
    _, html = real_book
    for out in CHAPTERS.values():
        assert (html / Path(out).with_suffix(".html")).is_file()
    assert (html / "primer" / "index.html").is_file()
    outcome = manifest_pages()["primer_transformations"].parameters["outcome"]
    x, n, _ = counts(ds, outcome)
    gap, ft, glmm = ft_gap_from_engine(x, n)
    text = htmllib.unescape((html / "primer" / "transformations.html").read_text(encoding="utf-8"))
    text = re.sub(r"<[^>]+>", "", text)
    assert f"{abs(gap):.2f} points" in text
    assert f"{100 * ft:.2f}%" in text and f"{100 * glmm:.2f}%" in text
    intervals = re.sub(r"<[^>]+>", "", htmllib.unescape((html / "primer" / "intervals.html").read_text()))
    vod = ds.published[(ds.published["outcome"] == "vod") & (ds.published["subgroup"] == "overall")]
    vod = vod.set_index("statistic")["value"]
    assert f"{vod['pi_low']:.1f}%–{vod['pi_high']:.1f}%" in intervals  # the paper's VOD PI, from published.csv


@pytest.mark.parametrize("kwargs", [{"data_dir": "tests/fixtures/synthetic"}, {"data_version": 1}],
                         ids=["synthetic", "version-1"])
def test_chapters_work_on_other_datasets(kwargs):
    """The build runs the primer on the synthetic fixture and on earlier data versions too."""
    for template in CHAPTERS:
        ch = chapter(template, **kwargs, **FAST.get(template, {}))
        nb = nbformat.read(NOTEBOOKS_DIR / f"{template}.ipynb", as_version=4)
        md = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        known = set(ch.numbers) | set(ch.markdown) | set(re.findall(r'glue_figure\("(\w+)"', code))
        assert glue_keys(md) <= known, template
