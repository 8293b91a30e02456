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
        # RevMan: the weight column is each study's weight in the overall analysis; the within-subgroup
        # weight is kept as subgroup_weight; the subgroup's row shows its share of the overall weight
        overall = dict(zip(res.es.labels, res.weights))
        np.testing.assert_allclose(block["weight"], [overall[label] for label in block["label"]])
        np.testing.assert_allclose(block["subgroup_weight"], fit.weights)
        assert block["subgroup_weight"].sum() == pytest.approx(100.0)
        diamond = d[(d["group"] == name) & (d["kind"] == "subgroup_pooled")].iloc[0]
        assert diamond.weight == pytest.approx(block["weight"].sum())
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
    np.testing.assert_allclose(unknown["weight"], res.weights[-2:])  # their weight in the overall analysis
    assert unknown["subgroup_weight"].isna().all(), "not pooled in any subgroup, so no subgroup weight"
    assert d.loc[d["kind"] == "study", "weight"].sum() == pytest.approx(100.0)
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


# ---------------------------------------------------------------- forest: RevMan conventions (issue 15)


def _one_study_subgroup():
    sub_mod = pytest.importorskip("livingreview.engine.subgroups")
    es = escalc("PLO", XI, NI, labels=LABELS)
    groups = ["R/R"] * 5 + ["Newly diagnosed"] * 4 + ["Elderly"]
    return rma(es), sub_mod.subgroup_analysis(es, groups)


def test_forest_subgroup_of_one_study_has_no_diamond_and_no_heterogeneity_line():
    res, sub = _one_study_subgroup()
    fp = forest_plot(res, sub)
    d = fp.data
    assert set(d.loc[d["kind"] == "subgroup_pooled", "group"]) == {"R/R", "Newly diagnosed"}
    assert d[(d["group"] == "Elderly") & (d["kind"] == "study")]["weight"].iloc[0] == pytest.approx(res.weights[-1])
    assert sum(t.startswith("I² = ") for t in _texts(fp.figure)) == 2


def test_forest_marks_studies_that_share_patients():
    res = _fit()
    fp = forest_plot(res, shared_patients=["Jabbour 2018", "Short 2020"])
    d = fp.data.set_index("label")
    assert d.loc["Jabbour 2018", "shared"] == d.loc["Short 2020", "shared"] == "†"
    assert d.loc["Stock 2021", "shared"] == ""
    texts = _texts(fp.figure)
    assert "Jabbour 2018 †" in texts and "Stock 2021" in texts
    assert "† Share patients (overlapping cohorts): Jabbour 2018, Short 2020" in texts
    two = forest_plot(res, shared_patients={"Jabbour 2018": "A", "Short 2020": "A", "Wang 2023": "B",
                                            "Jain 2024": "B"}).data.set_index("label")
    assert two.loc["Short 2020", "shared"] == "†" and two.loc["Jain 2024", "shared"] == "‡"


@pytest.mark.parametrize("method", ["clopper-pearson", "wilson"])
def test_forest_study_ci_method(method):
    from livingreview.engine.effects import study_intervals

    res = _fit()
    fp = forest_plot(res, study_ci=method)
    d = fp.data.query("kind == 'study'")
    est, lo, hi = study_intervals(res.es, 0.95, method=method)
    np.testing.assert_allclose(d[["estimate", "ci_low", "ci_high"]].to_numpy(), np.column_stack([est, lo, hi]))
    assert fp.study_ci == method and any(t.startswith("Study confidence intervals: ") for t in _texts(fp.figure))
    with pytest.raises(ValueError, match="study CI method"):
        forest_plot(res, study_ci="exact")


NASTY = ["$x$", "<img src=x onerror=alert(1)>", "two\nlines", r"$\frac{$"]


def _nasty_fit():
    labels = NASTY + LABELS[len(NASTY):]
    return rma(escalc("PLO", XI, NI, labels=labels))


def _user_texts(fig):
    from matplotlib.text import Text

    ticks = {id(t) for ax in fig.axes for axis in (ax.xaxis, ax.yaxis)
             for tick in axis.get_major_ticks() + axis.get_minor_ticks() for t in (tick.label1, tick.label2)}
    return [t for t in fig.findobj(Text) if id(t) not in ticks and t.get_text()]


def test_labels_are_drawn_literally_never_as_mathtext(tmp_path):
    """Security: study labels, titles and subgroup names are text, not mathtext (r"$\\frac{$" would make the
    mathtext parser fail on drawing), newlines become spaces, and the SVG carries no markup from them."""
    from livingreview.engine.plots import baujat_plot, bubble_plot, cumulative_plot, influence_plot, svg_bytes
    from livingreview.engine.sensitivity import cumulative

    res = _nasty_fit()
    plots = [forest_plot(res, title="$y$ <b>", shared_patients=[NASTY[0]]), funnel_plot(res, title="$z$"),
             influence_plot(res), baujat_plot(res, labels=True), cumulative_plot(cumulative(res), title="$c$"),
             bubble_plot(rma(res.es, mods={"$m$ <i>": np.arange(10.0)}, force=True))]
    for plot in plots:
        fig = plot.figure
        texts = _user_texts(fig)
        assert texts and all(not t.get_parse_math() for t in texts)
        svg = svg_bytes(fig)  # draws every text: a mathtext parse would raise here
        assert b"<img" not in svg and b"<b>" not in svg
        drawn = " ".join(t.get_text() for t in texts)
        assert "\n" not in drawn
    forest_texts = _texts(plots[0].figure)
    assert "$x$ †" in forest_texts and "<img src=x onerror=alert(1)>" in forest_texts and "two lines" in forest_texts
    assert r"$\frac{$" in forest_texts
    assert plots[0].figure.axes[0].texts[-1].get_text() == "$y$ <b>"


def test_log_axis_tick_labels_still_use_mathtext_formatters():
    from livingreview.engine.heterogeneity import gosh
    from livingreview.engine.plots import gosh_plot

    fig = gosh_plot(gosh(_fit()), hexbin=True).figure
    fig.canvas.draw()
    colorbar = fig.axes[1]
    assert colorbar.get_yscale() == "log" and any("10^" in t.get_text() for t in colorbar.get_yticklabels())


# ---------------------------------------------------------------- funnel: contours, 1/√n, percent


def test_contour_enhanced_funnel_regions_and_legend():
    res = _fit()
    fu = funnel_plot(res, contours=(0.90, 0.95, 0.99), reference=0.8)
    ax = fu.figure.axes[0]
    fills = [c for c in ax.collections if c.__class__.__name__ in ("PolyCollection", "FillBetweenPolyCollection")]
    assert len(fills) == 3 and fu.contours == (0.90, 0.95, 0.99)
    assert fu.reference == pytest.approx(np.log(0.8 / 0.2))
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"0.10 < p ≤ 1.00", "0.05 < p ≤ 0.10", "0.01 < p ≤ 0.05", "p ≤ 0.01"} <= set(labels)
    # the widest region spans reference ± z(0.995)·SE at the bottom of the plot
    widest = fills[0].get_paths()[0].vertices
    se_bottom = max(ax.get_ylim())
    assert widest[:, 0].min() == pytest.approx(fu.reference - 2.5758293035489 * se_bottom, rel=1e-6)
    assert alt_text(fu).startswith("Contour-enhanced funnel plot of 10 studies")


def test_funnel_on_inverse_root_n_with_percent_axis():
    res = _fit()
    fu = funnel_plot(res, yaxis="sqrtninv", percent=True)
    np.testing.assert_allclose(fu.data["y"], 1 / np.sqrt(NI))
    ax = fu.figure.axes[0]
    assert ax.yaxis_inverted() and ax.get_ylabel() == "1/√n" and ax.get_xlabel() == "Proportion (logit scale)"
    ticks = ax.get_xticks()
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels and all(lb.endswith("%") for lb in labels)
    props = np.array([float(lb.rstrip("%")) / 100 for lb in labels])
    np.testing.assert_allclose(ticks, np.log(props / (1 - props)), rtol=1e-12)


def test_egger_line_on_the_inverse_root_n_axis():
    bias = pytest.importorskip("livingreview.engine.bias")
    res = _asymmetric()
    eg = bias.egger_test(res, predictor="sqrtninv")
    fu = funnel_plot(res, yaxis="sqrtninv", egger=eg)
    line = next(ln for ln in fu.figure.axes[0].lines if ln.get_label() == "Egger regression line")
    x, y = line.get_data()
    np.testing.assert_allclose(x, eg.intercept + eg.slope * np.asarray(y))
    no_line = funnel_plot(res, egger=eg)  # a 1/√n regression is not drawn on the SE axis, its p is kept
    assert not [ln for ln in no_line.figure.axes[0].lines if ln.get_label() == "Egger regression line"]
    assert no_line.egger_p == pytest.approx(eg.pval)


# ---------------------------------------------------------------- diagnostic plots


def test_influence_plot_panels_cutoffs_and_flags():
    from livingreview.engine.diagnostics import influence
    from livingreview.engine.plots import influence_plot

    xi, ni = XI[:9] + [2], NI[:9] + [200]
    res = rma(escalc("PLO", xi, ni, labels=LABELS))
    inf = influence(res)
    plot = influence_plot(res)
    axes = plot.figure.axes
    assert [ax.get_title() for ax in axes] == ["rstudent", "dffits", "cook.d", "cov.r", "tau2.del", "QE.del", "hat",
                                              "weight"]
    hat_lines = sorted(ln.get_ydata()[0] for ln in axes[6].lines if len(ln.get_xdata()) == 2)
    assert hat_lines == pytest.approx([1 / 10, 3 / 10])
    red = [ln for ln in axes[0].lines if ln.get_color() == "#d7191c"]
    assert len(red) == 1 and len(red[0].get_xdata()) == inf.influential.sum() == 1
    np.testing.assert_allclose(plot.data["cook_d"], inf.cook_d)
    assert "1 study flagged as influential (number 10)" in plot.alt_text == alt_text(plot)


def test_baujat_plot_draws_each_study_at_its_coordinates():
    from livingreview.engine.diagnostics import baujat
    from livingreview.engine.plots import baujat_plot

    res = _fit()
    b = baujat(res)
    plot = baujat_plot(res)
    ax = plot.figure.axes[0]
    positions = {t.get_text(): t.get_position() for t in ax.texts}
    assert set(positions) == {str(i) for i in range(1, 11)}
    assert positions["3"] == pytest.approx((b.x[2], b.y[2]))
    assert ax.get_xlabel() == "Squared Pearson Residual" and ax.get_ylabel() == "Influence on Overall Result"


def test_gosh_plot_scatter_or_hexbin():
    from livingreview.engine.heterogeneity import gosh
    from livingreview.engine.plots import gosh_plot

    g = gosh(_fit(idx=range(6)))
    small = gosh_plot(g)
    assert len(small.data) == 63 and small.figure.axes[0].collections[0].get_offsets().shape == (63, 2)
    np.testing.assert_allclose(small.data["i2"], g.i2)
    big = gosh_plot(g, hexbin=True)
    assert big.figure.axes[0].collections[0].__class__.__name__ == "PolyCollection" and len(big.figure.axes) == 2
    assert "all 63 subsets of 6 studies" in small.alt_text


def test_cumulative_plot_rows():
    from livingreview.engine.plots import cumulative_plot
    from livingreview.engine.sensitivity import cumulative

    res = _fit()
    c = cumulative(res, order=NI)
    plot = cumulative_plot(c)
    np.testing.assert_allclose(plot.data["estimate"], c.prop_estimate)
    texts = _texts(plot.figure)
    assert c.label[0] in texts and f"+ {c.label[1]}" in texts
    assert plot.alt_text.endswith(f"with all {res.k}.")


def test_bubble_plot_line_band_and_bubbles():
    from livingreview.engine.metareg import regression_line
    from livingreview.engine.plots import bubble_plot

    es = escalc("PLO", XI, NI, labels=LABELS)
    reg = rma(es, mods={"year": [2016, 2018, 2020, 2021, 2019, 2020, 2018, 2023, 2024, 2022]}, force=True)
    plot = bubble_plot(reg)
    ax = plot.figure.axes[0]
    line = regression_line(reg)
    fitted = next(ln for ln in ax.lines if ln.get_label() == "Meta-regression line")
    np.testing.assert_allclose(fitted.get_ydata(), line.prediction.prop_pred)
    bubbles = next(c for c in ax.collections if c.get_label() == "Study (area ∝ weight)")
    sizes = bubbles.get_sizes()
    assert np.argmax(sizes) == np.argmax(reg.weights) and ax.get_xlabel() == "year"
    assert "proportion against year" in plot.alt_text


# ---------------------------------------------------------------- vector and high-resolution output


def test_svg_and_high_dpi_png():
    from livingreview.engine.plots import png_bytes, svg_bytes

    fig = forest_plot(_fit()).figure
    svg = svg_bytes(fig)
    assert svg.startswith(b"<?xml") and b"<svg" in svg and svg == svg_bytes(fig)
    import io

    from PIL import Image

    low, high = Image.open(io.BytesIO(png_bytes(fig, dpi=100))), Image.open(io.BytesIO(png_bytes(fig)))
    assert high.size[0] == pytest.approx(2 * low.size[0], abs=2)  # HIGH_DPI = 200


def test_save_figure_png_dpi(tmp_path):
    fig = funnel_plot(_fit()).figure
    a = save_figure(fig, tmp_path / "a.png")
    b = save_figure(fig, tmp_path / "b.png", dpi=200)
    assert b.stat().st_size > a.stat().st_size
