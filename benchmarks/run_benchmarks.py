"""Benchmarks of the build and of the engine, on the machine this runs on (a script, not a test).

    python benchmarks/run_benchmarks.py [--jobs N] [--skip-book] [--skip-engine] [--sizes 10,100,1000,10000]

Book (``python -m livingreview build``, timed from command to done, in a fresh build directory, on a copy of
``data/`` so the repository is not touched):

* cold — a fresh build directory and ``--force``: every notebook executed, every HTML page built;
* nothing changed — the same command again (it must import only the standard library: target < 0.2 s);
* a comment added to ``manifest.yml`` — must execute no notebook and run no Sphinx;
* one event count changed — one ``events`` cell of one outcome (overall response) in the copy of the data;
* the physical floor — one plain kernel started (to ready) and stopped per notebook, ``--jobs`` at a time,
  plus the Sphinx build alone of the staged source of the cold build (fresh ``_build``).

Engine — ``rma`` (REML), leave-one-out, Egger (classical, ``regtest(model="lm")``) and trim-and-fill (L0) on
k = 10 … 10,000 simulated studies (fixed seed), against metafor on the same data, timed inside R with
``proc.time`` (R start-up excluded): the best of up to 20 repetitions (until 0.2 s) on both sides. Leave-one-out
refits the model k times to k − 1 studies (quadratic in k): it is run in full while that takes under a minute
on the side concerned, otherwise timed on the first 20 refits and scaled by k/20 (marked "≈"). Diagnostics: GOSH
with every subset of k = 16 studies (DL and REML) and ``influence()`` at k = 1,000, against metafor in one R run.

Writes ``benchmarks/results.md`` and ``benchmarks/results.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from livingreview.build.execute import default_jobs  # noqa: E402
from livingreview.build.manifest import load_manifest  # noqa: E402
from livingreview.config import DATA_DIR, MANIFEST, ROOT  # noqa: E402

SEED = 20250601
LOO_REFITS = 20  # refits timed when a full leave-one-out would take over LOO_FULL_LIMIT seconds
LOO_FULL_LIMIT = 60.0
R_ORDER = ("rma", "egger", "trimfill", "loo")  # the order in which the R script times the operations


# --- helpers -------------------------------------------------------------------------------------------------


def cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_cli(args, build_dir: Path, manifest: Path | None = None) -> dict:
    """Run ``python -m livingreview build ARGS`` (or, with another ``manifest``, the same build through the API);
    wall and CPU seconds (of every process it started)."""
    env = dict(os.environ, LIVINGREVIEW_BUILD_DIR=str(build_dir))
    cmd = [sys.executable, "-m", "livingreview", "build", *args]
    if manifest is not None:
        data, jobs = args[args.index("--data") + 1], args[args.index("--jobs") + 1]
        cmd = [sys.executable, "-c", "from pathlib import Path; from livingreview.build import build; "
               f"build(data_dir=Path({data!r}), jobs={jobs}, manifest=Path({str(manifest)!r}))"]
    cpu0, t0 = cpu_children(), time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t0, cpu_children() - cpu0
    if proc.returncode != 0:
        raise SystemExit(f"build failed:\n{proc.stdout}\n{proc.stderr}")
    log = proc.stdout + proc.stderr
    m = re.search(r"executing (\d+) with", log)
    state = json.loads((build_dir / "state.json").read_text())
    last = state.get("last_build", {})
    nothing = "nothing changed" in log
    return {"wall": round(wall, 2), "cpu": round(cpu, 2), "executed": 0 if nothing else int(m.group(1)) if m else None,
            "sphinx": "" if nothing else last.get("sphinx", ""), "nothing_changed": nothing,
            "phases": {} if nothing else last.get("seconds", {}), "kernels": "" if nothing else last.get("kernels")}


def bump_event(outcomes: Path, outcome: str) -> str:
    rows = list(csv.reader(io.StringIO(outcomes.read_text(encoding="utf-8"))))
    h = rows[0]
    for r in rows[1:]:
        if r[h.index("outcome")] == outcome and r[h.index("events")]:
            e, n = int(r[h.index("events")]), int(r[h.index("total")])
            r[h.index("events")] = str(e + 1 if e < n else e - 1)
            out = io.StringIO()
            csv.writer(out, lineterminator="\n").writerows(rows)
            outcomes.write_text(out.getvalue(), encoding="utf-8")
            return f"{r[0]}, {outcome}: events {e} → {r[h.index('events')]}"
    raise SystemExit(f"no row of {outcome} with counts")


async def _kernel_starts(n: int, jobs: int, tmp: Path) -> float:
    from jupyter_client.manager import AsyncKernelManager

    sem = asyncio.Semaphore(jobs)

    async def one(i):
        async with sem:
            km = AsyncKernelManager(kernel_name="python3", transport="ipc", ip=str(tmp / f"k{i}"))
            await km.start_kernel(cwd=str(ROOT), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            kc = km.client()
            kc.start_channels()
            await kc.wait_for_ready(timeout=120)
            kc.stop_channels()
            await km.shutdown_kernel(now=True)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return time.perf_counter() - t0


def kernel_floor(n: int, jobs: int) -> float:
    with tempfile.TemporaryDirectory(prefix="lrkf-") as tmp:
        return asyncio.run(_kernel_starts(n, jobs, Path(tmp)))


def sphinx_floor(src: Path) -> float:
    with tempfile.TemporaryDirectory(prefix="lrsf-") as tmp:
        copy = Path(tmp) / "src"
        shutil.copytree(src, copy, ignore=shutil.ignore_patterns("_build"))
        t0 = time.perf_counter()
        from livingreview.build.sphinx import sphinx_build
        sphinx_build(copy, fresh=True)
        return time.perf_counter() - t0


# --- book ----------------------------------------------------------------------------------------------------


def bench_book(jobs: int) -> dict:
    n_pages = len(load_manifest(MANIFEST).pages)
    with tempfile.TemporaryDirectory(prefix="lrbench-") as tmp:
        tmp = Path(tmp)
        data, build_dir = tmp / "data", tmp / "build"
        shutil.copytree(DATA_DIR, data, ignore=shutil.ignore_patterns("staging"))
        common = ["--data", str(data), "--jobs", str(jobs)]
        print(f"book: cold build of {n_pages} notebooks ...", file=sys.stderr)
        cold = run_cli([*common, "--force"], build_dir)
        print(f"  {cold['wall']} s", file=sys.stderr)
        same = run_cli(common, build_dir)
        print(f"book: nothing changed: {same['wall']} s", file=sys.stderr)
        commented = tmp / "manifest.yml"
        commented.write_text("# a comment that changes no page\n" + MANIFEST.read_text(encoding="utf-8"), encoding="utf-8")
        comment = run_cli(common, build_dir, manifest=commented)
        print(f"book: a comment in manifest.yml: {comment['wall']} s ({comment['executed']} notebooks)",
              file=sys.stderr)
        change = bump_event(data / "outcomes.csv", "overall_response")
        one = run_cli(common, build_dir)
        one["change"] = change
        print(f"book: one event count changed: {one['wall']} s ({one['executed']} notebooks)", file=sys.stderr)
        print("floor: kernel starts and Sphinx alone ...", file=sys.stderr)
        kernels = kernel_floor(n_pages, jobs)
        sphinx = sphinx_floor(build_dir / "src")
    floor = kernels + sphinx
    return {"notebooks": n_pages, "jobs": jobs, "cold": cold, "nothing_changed": same, "comment": comment,
            "one_event": one,
            "floor": {"kernel_starts": round(kernels, 2), "sphinx": round(sphinx, 2), "total": round(floor, 2)},
            "cold_over_floor": round(cold["wall"] / floor, 2)}


# --- engine --------------------------------------------------------------------------------------------------


def simulate(k: int, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """k studies: n ~ U{20..200}, logit p ~ N(logit 0.3, 0.5²), x ~ Binomial(n, p)."""
    rng = np.random.default_rng(seed)
    n = rng.integers(20, 201, size=k)
    p = 1 / (1 + np.exp(-(np.log(0.3 / 0.7) + rng.normal(0, 0.5, size=k))))
    return rng.binomial(n, p), n


def best_of(fn, budget: float = 0.1, batches: int = 3) -> float:
    """Seconds per call: calls are timed in batches (doubled until a batch takes ``budget``), best of
    ``batches`` batches; a call that alone takes over a second is timed once. metafor is timed the same way."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    if first > 1:
        return first
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        t = time.perf_counter() - t0
        if t >= budget:
            break
        n *= 2
    best = t / n
    for _ in range(batches - 1):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t0) / n)
    return best


def bench_python(k: int) -> dict:
    from livingreview.engine.bias import egger_test, trimfill
    from livingreview.engine.effects import escalc
    from livingreview.engine.model import rma
    from livingreview.engine.sensitivity import leave_one_out

    x, n = simulate(k)
    es = escalc("PLO", x, n)
    res = rma(es, method="REML")
    out = {"rma": best_of(lambda: rma(es, method="REML")), "egger": best_of(lambda: egger_test(res)),
           "trimfill": best_of(lambda: trimfill(res))}
    one = best_of(lambda: rma(es.subset(np.arange(k) != 0), method="REML"), budget=0.02, batches=1)
    if one * k < LOO_FULL_LIMIT:
        out["loo"], out["loo_extrapolated"] = best_of(lambda: leave_one_out(res), budget=0.1, batches=1), False
    else:
        t0 = time.perf_counter()
        for i in range(LOO_REFITS):
            rma(es.subset(np.arange(k) != i), method="REML")
        out["loo"], out["loo_extrapolated"] = (time.perf_counter() - t0) * k / LOO_REFITS, True
    out["tau2"], out["k0"] = res.tau2, trimfill(res).k0
    return out


R_SCRIPT = r"""
suppressPackageStartupMessages(library(metafor))
args <- commandArgs(trailingOnly = TRUE)
limit <- as.numeric(args[2]); refits <- as.integer(args[3])
best_of <- function(f, budget = 0.1, batches = 3) {
  t0 <- proc.time()[["elapsed"]]; f(); first <- proc.time()[["elapsed"]] - t0
  if (first > 1) return(first)
  n <- 1
  repeat {
    t0 <- proc.time()[["elapsed"]]; for (i in seq_len(n)) f(); t <- proc.time()[["elapsed"]] - t0
    if (t >= budget) break
    n <- n * 2
  }
  best <- t / n
  for (b in seq_len(batches - 1)) {
    t0 <- proc.time()[["elapsed"]]; for (i in seq_len(n)) f(); best <- min(best, (proc.time()[["elapsed"]] - t0) / n)
  }
  best
}
say <- function(op, t, extra = "") { cat(sprintf('{"op": "%s", "t": %.6g%s}\n', op, t, extra)); flush(stdout()) }
d <- read.csv(args[1])
k <- nrow(d)
dat <- escalc("PLO", xi = d$xi, ni = d$ni)
t0 <- proc.time()[["elapsed"]]; res <- rma(yi, vi, data = dat, method = "REML"); first <- proc.time()[["elapsed"]] - t0
say("rma", best_of(function() rma(yi, vi, data = dat, method = "REML")),
    sprintf(', "tau2": %.15g', res$tau2))
say("egger", best_of(function() regtest(res, model = "lm")))
t0 <- proc.time()[["elapsed"]]; tf <- trimfill(res); first <- proc.time()[["elapsed"]] - t0
say("trimfill", if (first > 1) first else best_of(function() trimfill(res)), sprintf(', "k0": %d', tf$k0))
one <- best_of(function() rma(dat$yi[-1], dat$vi[-1], method = "REML"), budget = 0.02, batches = 1)
if (one * k < limit) {
  say("loo", best_of(function() leave1out(res), budget = 0.1, batches = 1), ', "extrapolated": false')
} else {
  m <- max(1, min(refits, floor(limit / 2 / one)))
  t0 <- proc.time()[["elapsed"]]
  for (i in 1:m) rma(dat$yi[-i], dat$vi[-i], method = "REML")
  say("loo", (proc.time()[["elapsed"]] - t0) * k / m, sprintf(', "extrapolated": true, "refits": %d', m))
}
"""


def bench_r(sizes, timeout: float) -> dict | str:
    """metafor on the same data, one R process per size (stopped after ``timeout`` seconds: metafor's rma.uni
    works with k × k matrices, so its time grows like k³ and k = 10,000 takes far longer than the rest)."""
    rscript = shutil.which("Rscript")
    if not rscript:
        return "Rscript not found"
    check = subprocess.run([rscript, "-e", "library(metafor); cat(as.character(packageVersion('metafor')))"],
                           capture_output=True, text=True)
    if check.returncode != 0:
        return "R package metafor not installed"
    out = {"metafor": check.stdout.strip().splitlines()[-1], "timeout": timeout}
    with tempfile.TemporaryDirectory(prefix="lrbr-") as tmp:
        script = Path(tmp) / "bench.R"
        script.write_text(R_SCRIPT)
        for k in sizes:
            print(f"engine: k = {k} (metafor, at most {timeout:.0f} s)", file=sys.stderr)
            x, n = simulate(k)
            path = Path(tmp) / f"sim{k}.csv"
            path.write_text("xi,ni\n" + "".join(f"{a},{b}\n" for a, b in zip(x, n)))
            row = {"stopped": None}
            t0 = time.perf_counter()
            proc = subprocess.Popen([rscript, str(script), str(path), str(LOO_FULL_LIMIT), str(LOO_REFITS)],
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            try:
                stdout, _ = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                stdout, _ = proc.communicate()
                row["stopped"] = round(time.perf_counter() - t0, 1)
            for line in stdout.splitlines():
                if line.startswith("{"):
                    item = json.loads(line)
                    row[item.pop("op")] = item.pop("t")
                    if "extrapolated" in item:
                        row["loo_extrapolated"] = item.pop("extrapolated")
                    row.update(item)
            out[k] = row
    return out


# --- engine: diagnostics (GOSH at k = 16, influence at k = 1,000) --------------------------------------------

GOSH_K, INFLUENCE_K = 16, 1000
DIAG_R_SCRIPT = R_SCRIPT.split("d <- read.csv")[0] + r"""
g16 <- escalc("PLO", xi = xi, ni = ni, data = read.csv(args[4]))
for (m in c("DL", "REML")) {
  res <- rma(yi, vi, data = g16, method = m)
  t0 <- proc.time()[["elapsed"]]; g <- gosh(res, progbar = FALSE); first <- proc.time()[["elapsed"]] - t0
  say(paste0("gosh_", m), if (first > 1) first else best_of(function() gosh(res, progbar = FALSE)),
      sprintf(', "mean_i2": %.15g', mean(g$res$I2, na.rm = TRUE)))
}
d <- escalc("PLO", xi = xi, ni = ni, data = read.csv(args[1]))
k <- nrow(d)
res <- rma(yi, vi, data = d, method = "REML")
one <- best_of(function() rma(yi, vi, data = d, method = "REML", subset = -1), budget = 0.02, batches = 1)
if (one * k < limit) {
  t0 <- proc.time()[["elapsed"]]; inf <- influence(res)
  say("influence", proc.time()[["elapsed"]] - t0, sprintf(', "extrapolated": false, "max_cook": %.15g',
                                                          max(inf$inf$cook.d)))
} else {  # influence() refits rma.uni k times to k - 1 studies: k refits are a lower bound of its time
  say("influence", one * k, ', "extrapolated": true')
}
"""
DIAG_NAMES = {"gosh_DL": f"GOSH, all {2 ** GOSH_K - 1:,} subsets (DL)",
              "gosh_REML": f"GOSH, all {2 ** GOSH_K - 1:,} subsets (REML)",
              "influence": "influence (REML)"}


def bench_diagnostics(r_timeout: float) -> dict:
    """GOSH on k = 16 (every subset; DL and REML) and influence() on k = 1,000, livingreview and metafor on the
    same simulated data (the R side in one process, stopped after ``r_timeout`` seconds). metafor's influence()
    at k = 1,000 refits rma.uni (k × k matrices) 1,000 times: where that would take over LOO_FULL_LIMIT seconds
    its time is k times one refit, a lower bound."""
    from livingreview.engine.diagnostics import influence
    from livingreview.engine.effects import escalc
    from livingreview.engine.heterogeneity import gosh
    from livingreview.engine.model import rma

    py: dict = {}
    x16, n16 = simulate(GOSH_K)
    es16 = escalc("PLO", x16, n16)
    for method in ("DL", "REML"):
        print(f"engine: GOSH k = {GOSH_K}, {method} (livingreview)", file=sys.stderr)
        res = rma(es16, method=method)
        py[f"gosh_{method}"] = best_of(lambda: gosh(res), budget=0.5, batches=2)
        py[f"gosh_{method}_mean_i2"] = float(np.nanmean(gosh(res).i2))
    print(f"engine: influence k = {INFLUENCE_K} (livingreview)", file=sys.stderr)
    x, n = simulate(INFLUENCE_K)
    res = rma(escalc("PLO", x, n), method="REML")
    py["influence"] = best_of(lambda: influence(res), budget=0.5, batches=2)
    py["influence_max_cook"] = float(np.nanmax(influence(res).cook_d))
    out: dict = {"python": py}
    rscript = shutil.which("Rscript")
    if not rscript:
        out["r"] = "Rscript not found"
        return out
    r: dict = {"timeout": r_timeout, "stopped": None}
    with tempfile.TemporaryDirectory(prefix="lrbd-") as tmp:
        script, big, small = Path(tmp) / "diag.R", Path(tmp) / "k1000.csv", Path(tmp) / "k16.csv"
        script.write_text(DIAG_R_SCRIPT)
        big.write_text("xi,ni\n" + "".join(f"{a},{b}\n" for a, b in zip(x, n)))
        small.write_text("xi,ni\n" + "".join(f"{a},{b}\n" for a, b in zip(x16, n16)))
        print(f"engine: GOSH and influence (metafor, at most {r_timeout:.0f} s)", file=sys.stderr)
        t0 = time.perf_counter()
        proc = subprocess.Popen([rscript, str(script), str(big), str(LOO_FULL_LIMIT), "0", str(small)],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            stdout, _ = proc.communicate(timeout=r_timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, _ = proc.communicate()
            r["stopped"] = round(time.perf_counter() - t0, 1)
    for line in stdout.splitlines():
        if line.startswith("{"):
            item = json.loads(line)
            op = item.pop("op")
            r[op] = item.pop("t")
            r.update({f"{op}_{key}": value for key, value in item.items()})
    out["r"] = r
    return out


def bench_engine(sizes, r_timeout: float) -> dict:
    py = {}
    for k in sizes:
        print(f"engine: k = {k} (livingreview)", file=sys.stderr)
        py[k] = bench_python(k)
    return {"python": py, "r": bench_r(sizes, r_timeout)}


# --- report --------------------------------------------------------------------------------------------------


def fmt_s(x: float) -> str:
    if x >= 10:
        return f"{x:.1f} s"
    if x >= 1:
        return f"{x:.2f} s"
    if x >= 1e-3:
        return f"{x * 1e3:.3g} ms"
    return f"{x * 1e6:.3g} µs"


def machine() -> dict:
    model = ""
    try:
        model = next(ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                     if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": model or platform.processor(), "cores": len(os.sched_getaffinity(0)),
            "python": platform.python_version(), "load_start": round(os.getloadavg()[0], 2)}


def markdown(results: dict) -> str:
    m = results["machine"]
    lines = ["# Benchmarks", "",
             f"Measured by `python benchmarks/run_benchmarks.py` on {m['date']}: {m['cpu']}, {m['cores']} cores "
             f"available, Python {m['python']}; load average {m['load_start']} at the start, {m['load_end']} at the "
             "end (other work on the machine slows every wall time; CPU times are less affected).", ""]
    b = results.get("book")
    if b:
        cold, same, one, fl = b["cold"], b["nothing_changed"], b["one_event"], b["floor"]
        comment = b.get("comment", {"wall": float("nan"), "cpu": float("nan"), "executed": "–", "sphinx": ""})
        lines += [f"## Book ({b['notebooks']} notebooks, `--jobs {b['jobs']}`)", "",
                  "| build | wall (command to done) | CPU | notebooks executed | Sphinx | target |",
                  "|---|---:|---:|---:|---|---|",
                  f"| cold (fresh build dir, `--force`) | {fmt_s(cold['wall'])} | {fmt_s(cold['cpu'])} | "
                  f"{cold['executed']} | yes | < 90 s, ≤ 1.5 × floor |",
                  f"| nothing changed (standard library only) | {fmt_s(same['wall'])} | {fmt_s(same['cpu'])} | 0 | "
                  f"{same['sphinx'] or 'no'} | < 0.2 s |",
                  f"| a comment added to manifest.yml | {fmt_s(comment['wall'])} | {fmt_s(comment['cpu'])} | "
                  f"{comment['executed']} | {comment['sphinx'] or 'no'} | 0 notebooks |",
                  f"| one event count changed ({one['change']}) | {fmt_s(one['wall'])} | {fmt_s(one['cpu'])} | "
                  f"{one['executed']} | {one['sphinx'] or 'no'} | < 20 s |", "",
                  f"Physical floor: one plain kernel started and stopped per notebook, {b['jobs']} at a time: "
                  f"{fmt_s(fl['kernel_starts'])}; Sphinx alone on the staged source (fresh): {fmt_s(fl['sphinx'])}; "
                  f"floor {fmt_s(fl['total'])}. Cold build / floor = **{b['cold_over_floor']}** (target ≤ 1.5; "
                  "below 1 is possible because the build's kernels are forked from a pre-imported process, "
                  "cheaper than the plain kernel starts of the floor).", "",
                  "Phases (s): cold " + json.dumps(cold["phases"]) + "; one event " + json.dumps(one["phases"]), ""]
    e = results.get("engine")
    if e:
        r = e["r"]
        lines += ["## Engine against metafor (same simulated data, fixed seed)", ""]
        if isinstance(r, str):
            lines += [f"metafor comparison skipped: {r}.", ""]
        else:
            lines += [f"metafor {r['metafor']}, timed inside R (start-up excluded). Ratio = metafor time / "
                      "livingreview time (> 1: livingreview is faster).", ""]
        lines += ["| k | operation | livingreview | metafor | ratio |", "|---:|---|---:|---:|---:|"]
        names = {"rma": "rma (REML)", "loo": "leave-one-out", "egger": "Egger (regtest lm)",
                 "trimfill": "trim-and-fill (L0)"}
        for k, py in e["python"].items():
            rk = None if isinstance(r, str) else r.get(int(k)) or r.get(str(k))
            for op in ("rma", "loo", "egger", "trimfill"):
                pv = fmt_s(py[op]) + (" ≈" if op == "loo" and py["loo_extrapolated"] else "")
                running = next((o for o in R_ORDER if o not in rk), None) if rk and rk.get("stopped") else None
                if rk and op in rk:
                    rv = fmt_s(rk[op]) + (" ≈" if op == "loo" and rk.get("loo_extrapolated") else "")
                    ratio = f"{rk[op] / py[op]:.1f}" if py[op] > 0 and rk[op] > 0 else "–"
                elif op == running:  # the operation R was in when it was stopped: a lower bound
                    spent = rk["stopped"] - sum(rk.get(o, 0) for o in R_ORDER)
                    rv, ratio = f"> {spent:.0f} s (stopped)", f"> {spent / py[op]:.0f}"
                elif running:
                    rv, ratio = f"not reached ({names[running]} stopped)", "–"
                else:
                    rv, ratio = "–", "–"
                lines.append(f"| {int(k):,} | {names[op]} | {pv} | {rv} | {ratio} |")
        sizes = [int(k) for k in e["python"]]
        if 1000 in sizes and 10000 in sizes:
            p1, p2 = e["python"][1000], e["python"][10000]
            scal = ", ".join(f"{names[op]} × {p2[op] / p1[op]:.1f}" for op in ("rma", "egger", "trimfill"))
            lines += ["", f"Scaling from k = 1,000 to 10,000 (linear would be × 10; timings this small are "
                      f"dominated by fixed overheads): {scal}."]
        if not isinstance(r, str):
            agree = []
            for k, py in e["python"].items():
                rk = r.get(int(k)) or r.get(str(k))
                if rk and "tau2" in rk and "k0" in rk:
                    agree.append(f"k = {int(k):,}: τ² {py['tau2']:.5g} vs {rk['tau2']:.5g}, k0 {py['k0']} vs {rk['k0']}")
            lines += ["", "Same answers (livingreview vs metafor; metafor's REML stops at a change below 1e-5): "
                      + "; ".join(agree) + "."]
        if not isinstance(r, str):
            lines += ["", f"metafor gets {r['timeout']:.0f} s per k (one R process per k, operations in the order "
                      "rma, Egger, trim-and-fill, leave-one-out): its `rma.uni` works with k × k matrices, so its "
                      "time grows like k³ (and trim-and-fill refits it repeatedly); \"> N s (stopped)\" is a lower "
                      "bound, and so is the ratio."]
        lines += ["", f"≈: leave-one-out refits the model k times (quadratic in k); where a full run would take over "
                  f"{LOO_FULL_LIMIT:.0f} s it is timed on the first refits (at most {LOO_REFITS}) and scaled to k refits."]
    d = results.get("engine_diagnostics")
    if d:
        py, r = d["python"], d["r"]
        lines += ["", f"## Engine diagnostics against metafor (GOSH at k = {GOSH_K}, influence at k = {INFLUENCE_K:,})",
                  "", "| operation | livingreview | metafor | ratio |", "|---|---:|---:|---:|"]
        for op, name in DIAG_NAMES.items():
            if isinstance(r, dict) and op in r:
                lower = r.get(f"{op}_extrapolated")
                rv = ("≥ " if lower else "") + fmt_s(r[op])
                ratio = ("≥ " if lower else "") + f"{r[op] / py[op]:.1f}"
            elif isinstance(r, dict) and r.get("stopped"):
                rv, ratio = f"not reached (stopped after {r['stopped']:.0f} s)", "–"
            else:
                rv, ratio = (r if isinstance(r, str) else "–"), "–"
            lines.append(f"| {name} | {fmt_s(py[op])} | {rv} | {ratio} |")
        if isinstance(r, dict):
            same = [f"GOSH {m} mean I² {py[f'gosh_{m}_mean_i2']:.6g} vs {r[f'gosh_{m}_mean_i2']:.6g}"
                    for m in ("DL", "REML") if f"gosh_{m}_mean_i2" in r]
            if "influence_max_cook" in r:
                same.append(f"largest Cook's distance {py['influence_max_cook']:.6g} vs {r['influence_max_cook']:.6g}")
            if same:
                lines += ["", "Same answers (livingreview vs metafor; metafor's REML stops at a change below 1e-5, "
                          "livingreview's at 1e-12): " + "; ".join(same) + "."]
        lines += ["", "≥: metafor's influence() refits rma.uni k times to k − 1 studies; where that would take over "
                  f"{LOO_FULL_LIMIT:.0f} s, k times one refit is reported — a lower bound of its time, so the ratio "
                  "is a lower bound too."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, default=None, help="build parallelism (default: the build's default)")
    p.add_argument("--skip-book", action="store_true")
    p.add_argument("--skip-engine", action="store_true")
    p.add_argument("--sizes", default="10,100,1000,10000")
    p.add_argument("--r-timeout", type=float, default=300.0, help="seconds metafor gets per size (default %(default)s)")
    p.add_argument("--out", type=Path, default=HERE / "results.md")
    p.add_argument("--render-only", action="store_true", help="rewrite results.md from results.json, measure nothing")
    args = p.parse_args(argv)
    if args.render_only:
        results = json.loads(args.out.with_suffix(".json").read_text(encoding="utf-8"))
        for side in ("python", "r"):  # JSON keys are strings: k back to int
            table = results.get("engine", {}).get(side)
            if isinstance(table, dict):
                results["engine"][side] = {int(k) if str(k).isdigit() else k: v for k, v in table.items()}
        args.out.write_text(markdown(results), encoding="utf-8")
        print(args.out.read_text(encoding="utf-8"))
        return 0
    jobs = default_jobs(args.jobs)  # the build's default unless --jobs: the floor is measured with the same jobs
    results = {"machine": machine()}
    results["machine"]["date"] = time.strftime("%Y-%m-%d")
    if not args.skip_engine:
        results["engine"] = bench_engine([int(s) for s in args.sizes.split(",")], args.r_timeout)
        results["engine_diagnostics"] = bench_diagnostics(args.r_timeout)
    if not args.skip_book:
        results["book"] = bench_book(jobs)
    results["machine"]["load_end"] = round(os.getloadavg()[0], 2)
    args.out.write_text(markdown(results), encoding="utf-8")
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")
    print(args.out.read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
