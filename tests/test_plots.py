"""Forest and funnel plots: assert on what was drawn (the returned DataFrame and the artists), not on pixels."""

from __future__ import annotations

import hashlib

import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure

from livingreview.engine.effects import back_transform, escalc
from livingreview.engine.model import rma
from livingreview.engine.plots import alt_text, forest_plot, funnel_plot, save_figure

XI = [45, 30, 88, 12, 60, 25, 70, 9, 40, 101]
NI = [50, 40, 100, 20, 64, 30, 90, 10, 52, 110]
LABELS = ["Kantarjian 2016 (INO-VATE)", "Jabbour 2018", "Short 2020", "Stock 2021", "Marks 2019",
          "Badar 2020", "Kantarjian 2018", "Wang 2023", "Jain 2024", "Sasaki 2022"]
GROUPS = ["R/R"] * 5 + ["Newly diagnosed"] * 5
Z95 = 1.959963984540054


def _fit(measure="PLO", idx=None, **kw):
    idx = list(range(len(XI))) if idx is None else list(idx)
    es = escalc(measure, [XI[i] for i in idx], [NI[i] for i in idx], labels=[LABELS[i] for i in idx])
    return rma(es, **kw)


def _subgroups():
    sub = pytest.importorskip("livingreview.engine.subgroups", reason="livingreview/subgroups.py not written yet")
    es = escalc("PLO", XI, NI, labels=LABELS)
    return rma(es, method="REML"), sub.subgroup_analysis(es, GROUPS, method="REML")


def _texts(fig: Figure) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts]


# ---------------------------------------------------------------- forest: rows and numbers


def test_forest_rows_in_order_without_subgroups():
    res = _fit()
    d = forest_plot(res).data
    assert list(d["kind"]) == ["study"] * 10 + ["overall_pooled", "prediction"]
    assert list(d.loc[d["kind"] == "study", "label"]) == LABELS
    assert list(d.loc[d["kind"] == "study", "events"]) == XI
    assert list(d.loc[d["kind"] == "study", "total"]) == NI
    assert np.all(np.diff(d["y"]) < 0), "rows are drawn top to bottom in data order"


def test_forest_study_numbers_are_back_transformed_intervals():
    res = _fit("PLO")
    d = forest_plot(res).data.query("kind == 'study'")
    yi, vi = res.es.yi, res.es.vi
    np.testing.assert_allclose(d["estimate"], np.asarray(XI) / np.asarray(NI), rtol=1e-12)
    np.testing.assert_allclose(d["ci_low"], 1 / (1 + np.exp(-(yi - Z95 * np.sqrt(vi)))), rtol=1e-9)
    np.testing.assert_allclose(d["ci_high"], 1 / (1 + np.exp(-(yi + Z95 * np.sqrt(vi)))), rtol=1e-9)
    np.testing.assert_allclose(d["weight"], res.weights)
    assert d["weight"].sum() == pytest.approx(100.0)


def test_forest_pooled_and_prediction_rows_equal_model_proportion():
    res = _fit("PLO")
    d = forest_plot(res).data
    p = res.proportion()
    pooled = d[d["kind"] == "overall_pooled"].iloc[0]
    assert (pooled.estimate, pooled.ci_low, pooled.ci_high) == pytest.approx((p.estimate, p.ci_low, p.ci_high))
    assert pooled.events == sum(XI) and pooled.total == sum(NI)
    pi = d[d["kind"] == "prediction"].iloc[0]
    assert (pi.ci_low, pi.ci_high) == pytest.approx((p.pi_low, p.pi_high))


def test_forest_pft_studies_use_own_n_pooled_uses_harmonic_mean():
    res = _fit("PFT")
    d = forest_plot(res).data
    studies = d[d["kind"] == "study"]
    own_n = [float(back_transform("PFT", [y], ni=[n])[0]) for y, n in zip(res.es.yi, NI)]
    np.testing.assert_allclose(studies["estimate"], own_n, rtol=1e-12)
    hm = back_transform("PFT", res.es.yi, ni=NI)
    assert not np.allclose(studies["estimate"], hm), "study rows must not use the harmonic-mean n"
    pooled = d[d["kind"] == "overall_pooled"].iloc[0]
    assert pooled.estimate == pytest.approx(res.proportion().estimate)


@pytest.mark.parametrize("k, drawn", [(2, False), (3, True), (4, True)])
def test_forest_prediction_interval_only_when_defined(k, drawn):
    res = _fit("PLO", idx=range(k), method="DL", pi_dist="t2")
    d = forest_plot(res).data
    assert ("prediction" in set(d["kind"])) is drawn


def test_forest_fixed_effect_has_no_prediction_row_and_fe_label():
    res = _fit("PLO", method="FE")
    d = forest_plot(res).data
    assert "prediction" not in set(d["kind"])
    assert d[d["kind"] == "overall_pooled"].iloc[0].label == "FE model"


def test_forest_subgroup_blocks():
    res, sub = _subgroups()
    fp = forest_plot(res, sub)
    d = fp.data
    levels = list(sub.levels)
    # block order: each level's studies, then its diamond; overall and PI last
    expected = []
    for name in levels:
        expected += ["study"] * sub.levels[name].k + ["subgroup_pooled"]
    assert list(d["kind"]) == expected + ["overall_pooled", "prediction"]
    for name, fit in sub.levels.items():
        block = d[(d["group"] == name) & (d["kind"] == "study")]
        assert list(block["label"]) == list(fit.es.labels)
        np.testing.assert_allclose(block["weight"], fit.weights)
        assert block["weight"].sum() == pytest.approx(100.0)
        diamond = d[(d["group"] == name) & (d["kind"] == "subgroup_pooled")].iloc[0]
        p = fit.proportion()
        assert (diamond.estimate, diamond.ci_low, diamond.ci_high) == pytest.approx(
            (p.estimate, p.ci_low, p.ci_high))
    texts = _texts(fp.figure)
    for name in levels:
        assert name in texts, "each block is headed by its level name"
    assert sum(t.startswith("I² = ") for t in texts) == len(levels), "one heterogeneity line per subgroup"
    assert any(t.startswith("Test for subgroup differences: Q_between") for t in texts)
    assert fp.q_between == pytest.approx(sub.q_between)


def test_forest_studies_without_subgroup_label_shown_unpooled():
    sub_mod = pytest.importorskip("livingreview.engine.subgroups", reason="livingreview/subgroups.py not written yet")
    es = escalc("PLO", XI, NI, labels=LABELS)
    groups = GROUPS[:-2] + [None, ""]
    res, sub = rma(es), sub_mod.subgroup_analysis(es, groups)
    d = forest_plot(res, sub).data
    unknown = d[d["group"] == "Unknown (no subgroup)"]
    assert list(unknown["label"]) == list(sub.excluded) == LABELS[-2:]
    assert unknown["weight"].isna().all(), "not pooled in any subgroup, so no subgroup weight"
    assert (d["kind"] == "study").sum() == len(LABELS)


def test_forest_footer_reports_heterogeneity():
    res = _fit()
    texts = _texts(forest_plot(res).figure)
    footer = next(t for t in texts if t.startswith("Heterogeneity:"))
    assert "τ² =" in footer and "I² =" in footer and f"df = {res.k - 1}" in footer
    assert not any("Q_between" in t for t in texts)


def test_forest_new_studies_marked():
    res = _fit()
    fp = forest_plot(res, new_studies=["Jain 2024", "Wang 2023"])
    d = fp.data
    assert set(d.loc[d["new"], "label"]) == {"Jain 2024", "Wang 2023"}
    texts = _texts(fp.figure)
    assert "Jain 2024  (new)" in texts and "Short 2020" in texts
    assert "1 new" not in alt_text(fp) and "2 new studies highlighted" in alt_text(fp)


def test_forest_clips_intervals_past_the_axis():
    res = _fit()
    d = forest_plot(res, xlim=(0.7, 0.95)).data
    stock = d[d["label"] == "Stock 2021"].iloc[0]  # 12/20: CI well below 70%
    assert stock.clipped_low and not stock.clipped_high
    assert not d[d["label"] == "Short 2020"].iloc[0].clipped_low


def test_forest_height_scales_with_rows():
    small = forest_plot(_fit(idx=range(3))).figure.get_figheight()
    large = forest_plot(_fit()).figure.get_figheight()
    assert large > small + 7 * 0.2


def _assert_text_clear(fig: Figure):
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    axbox = ax.get_window_extent(renderer)
    for t in ax.texts:
        box = t.get_window_extent(renderer)
        assert box.x0 >= -0.5 and box.x1 <= fig.bbox.x1 + 0.5, t.get_text()
        assert box.y0 >= -0.5 and box.y1 <= fig.bbox.y1 + 0.5, t.get_text()
        if fig.bbox.y0 < box.y0 and box.y1 < axbox.y1 and axbox.y0 < box.y0:  # a row inside the plot band
            assert box.x1 <= axbox.x0 + 0.5 or box.x0 >= axbox.x1 - 0.5, t.get_text()


def test_forest_text_inside_figure_and_clear_of_plot():
    """No label cut at the figure edge; left columns end before the plot area, right columns start after it."""
    _assert_text_clear(forest_plot(_fit(), title="Complete remission", new_studies=["Jain 2024"]).figure)
    _assert_text_clear(forest_plot(_fit("PR"), percent=False, show_counts=False, show_weights=False).figure)


def test_forest_text_clear_with_subgroups():
    res, sub = _subgroups()
    _assert_text_clear(forest_plot(res, sub, title="Complete remission", new_studies=["Jain 2024"]).figure)


def test_forest_into_given_axes():
    fig = Figure(figsize=(10, 5))
    ax = fig.add_axes([0.4, 0.2, 0.3, 0.7])
    fp = forest_plot(_fit(), ax=ax)
    assert fp.figure is fig and len(fig.axes) == 1


def test_no_global_rcparams_change():
    before = dict(matplotlib.rcParams)
    forest_plot(_fit())
    funnel_plot(_fit())
    after = dict(matplotlib.rcParams)
    assert {k for k in before if before[k] != after[k]} == set()


# ---------------------------------------------------------------- alt text


def test_forest_alt_text():
    res = _fit()
    text = alt_text(forest_plot(res))
    p = res.proportion()
    assert text.startswith("Forest plot of 10 studies; pooled ")
    assert f"{p.estimate * 100:.1f}% (95% CI {p.ci_low * 100:.1f}% to {p.ci_high * 100:.1f}%)" in text
    assert "prediction interval" in text and text.endswith(".") and text.count(".") <= 12


def test_forest_alt_text_with_subgroups():
    res, sub = _subgroups()
    text = alt_text(forest_plot(res, sub))
    assert f"in {len(sub.levels)} subgroups (" in text


def test_funnel_alt_text():
    res = _fit()
    text = alt_text(funnel_plot(res))
    assert text.startswith("Funnel plot of 10 studies (logit proportion against standard error)")
    assert f"{res.proportion().estimate * 100:.1f}%" in text


# ---------------------------------------------------------------- funnel


def test_funnel_points_and_axes():
    res = _fit()
    fu = funnel_plot(res)
    d = fu.data
    assert list(d["kind"]) == ["observed"] * res.k
    np.testing.assert_allclose(d["yi"], res.es.yi)
    np.testing.assert_allclose(d["y"], np.sqrt(res.es.vi))
    ax = fu.figure.axes[0]
    assert ax.yaxis_inverted() and ax.get_ylim()[1] == 0.0, "SE 0 at the top"
    assert ax.get_xlabel() == "Logit proportion"
    assert fu.estimate == pytest.approx(res.estimate)


def test_funnel_yaxis_choice():
    res = _fit()
    fu = funnel_plot(res, yaxis="seinv")
    np.testing.assert_allclose(fu.data["y"], 1 / np.sqrt(res.es.vi))
    assert not fu.figure.axes[0].yaxis_inverted()
    with pytest.raises(ValueError):
        funnel_plot(res, yaxis="nonsense")


def _asymmetric():
    """A small-study effect: the small studies all sit high (trim-and-fill imputes 3 on the left)."""
    xi = [45, 30, 88, 12, 60, 9, 10, 19, 8, 101]
    ni = [50, 40, 100, 20, 64, 10, 10, 20, 8, 110]
    return rma(escalc("PLO", xi, ni, labels=[f"S{i}" for i in range(10)]), method="REML")


def test_funnel_trimfill_filled_points():
    bias = pytest.importorskip("livingreview.engine.bias", reason="livingreview/bias.py not written yet")
    res = _asymmetric()
    tf = bias.trimfill(res)
    assert tf.k0 > 0, "the fixture must impute studies, or this test checks nothing"
    fu = funnel_plot(res, tf)
    d = fu.data
    assert (d["kind"] == "filled").sum() == tf.k0
    assert (d["kind"] == "observed").sum() == res.k
    np.testing.assert_allclose(d.loc[d["kind"] == "filled", "yi"], tf.yi_fill)
    assert fu.k0 == tf.k0 and fu.estimate == pytest.approx(tf.res.estimate), "centred on the adjusted estimate"
    ax = fu.figure.axes[0]
    open_circles = [c for c in ax.collections if c.get_label() == "Filled study (trim-and-fill)"]
    assert len(open_circles) == 1 and len(open_circles[0].get_offsets()) == tf.k0
    text = alt_text(fu)
    assert f"with {tf.k0} studies imputed by trim-and-fill on the {tf.side} side" in text


def test_funnel_trimfill_without_imputation_draws_no_filled_points():
    bias = pytest.importorskip("livingreview.engine.bias", reason="livingreview/bias.py not written yet")
    res = _fit()
    tf = bias.trimfill(res, force=True)
    fu = funnel_plot(res, tf)
    assert (fu.data["kind"] == "filled").sum() == tf.k0


def test_funnel_egger_line():
    bias = pytest.importorskip("livingreview.engine.bias", reason="livingreview/bias.py not written yet")
    res = _asymmetric()
    eg = bias.egger_test(res)
    fu = funnel_plot(res, egger=eg)
    lines = [ln for ln in fu.figure.axes[0].lines if ln.get_label() == "Egger regression line"]
    assert len(lines) == 1
    x, y = lines[0].get_data()
    np.testing.assert_allclose(x, eg.intercept + eg.slope * np.asarray(y))
    assert fu.egger_p == pytest.approx(eg.pval)
    assert "Egger test p" in alt_text(fu)


# ---------------------------------------------------------------- saving


@pytest.mark.parametrize("suffix", ["png", "svg"])
def test_save_twice_gives_identical_bytes(tmp_path, suffix):
    res = _fit()
    digests = []
    for i in range(2):
        fig = forest_plot(res, title="Overall response").figure  # a fresh figure each time
        path = save_figure(fig, tmp_path / f"f{i}.{suffix}")
        digests.append(hashlib.sha256(path.read_bytes()).hexdigest())
    assert digests[0] == digests[1]
    if suffix == "svg":
        assert b"<dc:date>" not in (tmp_path / "f0.svg").read_bytes()


def test_save_png_has_no_software_chunk(tmp_path):
    path = save_figure(funnel_plot(_fit()).figure, tmp_path / "funnel.png")
    raw = path.read_bytes()
    assert raw.startswith(b"\x89PNG") and b"Software" not in raw


def test_save_rejects_unknown_suffix(tmp_path):
    with pytest.raises(ValueError):
        save_figure(funnel_plot(_fit()).figure, tmp_path / "x.jpg")
