# Golden values for the engine's diagnostics (diagnostics.py, sensitivity.cumulative, heterogeneity.gosh, intervals.py,
# effects.study_intervals) from R metafor (Debian r-cran-metafor 3.8-1).
#
#   Rscript tests/oracle/golden_diagnostics.R [out.json]   # from the repo root; default tests/oracle/golden_diagnostics.json
#
# Mirrored calls, per dataset x measure x (method, test):
#   influence(res)            rstudent, dffits, cook.d, cov.r, tau2.del, QE.del, hat, weight, dfbs, inf flags
#   rstandard(res)            resid, se, z
#   baujat(res)               the returned x, y
#   cumul(res, order=, transf=)   in data order, by ni, and by ni decreasing (ties keep the data order)
#   confint(res, control=list(tol=1e-12))$random    Q-profile CI of tau^2, tau, I^2, H^2 (RE models)
#   predictive probability    from predict(res, pi.type=): pnorm/pt of (transformed threshold - pred) / sqrt(se^2 + tau^2)
# and gosh(res) (all subsets) on small datasets; binom.test / prop.test(correct=FALSE) study intervals.
# Deterministic: no random numbers; rerunning gives the same bytes.

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
out_path <- if (length(args) >= 1) args[1] else "tests/oracle/golden_diagnostics.json"

CTRL <- list(threshold = 1e-12, maxiter = 10000, tol = 1e-12)
num <- function(x) if (is.null(x)) NA_real_ else unname(as.numeric(x))
arr <- function(x) I(unname(as.numeric(x)))

datasets <- list(
  pritz1997 = list(xi = dat.pritz1997$xi, ni = dat.pritz1997$ni),
  debruin2009 = list(xi = dat.debruin2009$xi, ni = dat.debruin2009$ni),
  hannum2020 = list(xi = dat.hannum2020$xi, ni = dat.hannum2020$ni),
  miller1978 = list(xi = c(3, 6, 10, 1), ni = c(11, 17, 21, 6)),
  k2 = list(xi = c(7, 20), ni = c(23, 41)),
  zeros = list(xi = c(0, 3, 12, 9, 0, 15, 7), ni = c(10, 25, 12, 30, 18, 15, 40)),
  homogeneous = list(xi = c(30, 61, 14, 45, 24, 90), ni = c(100, 200, 50, 150, 80, 300))
)
MEASURES <- c("PLO", "PFT", "PR", "PAS")
SPECS <- list(c("EE", "z"), c("DL", "knha"), c("REML", "z"), c("PM", "adhoc"), c("ML", "t"))
THRESHOLDS <- c(0.1, 0.3, 0.5, 0.8)
PI_TYPES <- c(z = "z", t1 = "t", t2 = "riley")

transf_of <- function(measure) switch(measure, PR = NULL, PLO = transf.ilogit, PAS = transf.iarcsin, PFT = transf.ipft.hm)
fwd <- function(measure, p, ni) switch(measure, PR = p, PLO = qlogis(p), PAS = asin(sqrt(p)),
                                       PFT = transf.pft(p, 1 / mean(1 / ni)))
attempt <- function(expr) tryCatch(suppressWarnings(expr), error = function(e) list(error = conditionMessage(e)))

cumul_out <- function(res, measure, ni, order, decreasing) {
  tf <- transf_of(measure)
  cargs <- list(res)
  if (!is.null(order)) cargs$order <- order
  if (decreasing) cargs$decreasing <- TRUE
  cm <- do.call(cumul, cargs)
  targs <- cargs
  if (!is.null(tf)) targs$transf <- tf
  if (measure == "PFT") targs$targs <- list(ni = ni)
  ct <- do.call(cumul, targs)
  list(order = if (is.null(order)) NULL else arr(order), decreasing = decreasing, slab = as.character(cm$slab),
       estimate = arr(cm$estimate), se = arr(cm$se), pval = arr(cm$pval), ci_low = arr(cm$ci.lb),
       ci_high = arr(cm$ci.ub), q = arr(cm$Q), q_p = arr(cm$Qp), tau2 = if (is.null(cm$tau2)) NULL else arr(cm$tau2),
       i2 = arr(cm$I2), h2 = arr(cm$H2), prop_estimate = arr(ct$estimate), prop_ci_low = arr(ct$ci.lb),
       prop_ci_high = arr(ct$ci.ub))
}

predprob_out <- function(res, measure, ni) {
  out <- list()
  if (res$method == "EE") return(out)
  sd <- sqrt(predict(res)$se^2 + res$tau2)   # the test's SE (knha-scaled under knha), as the engine's PI
  for (nm in names(PI_TYPES)) {
    df <- switch(nm, z = Inf, t1 = res$k - 1, t2 = res$k - 2)
    if (df < 1) next
    p <- if (nm == "z") NULL else predict(res, pi.type = PI_TYPES[[nm]])
    for (thr in THRESHOLDS) {
      z <- (fwd(measure, thr, ni) - c(res$beta)) / sd
      prob <- if (is.infinite(df)) pnorm(z, lower.tail = FALSE) else pt(z, df = df, lower.tail = FALSE)
      out[[length(out) + 1]] <- list(pi_dist = nm, threshold = thr, probability = num(prob),
                                     pi_low = if (is.null(p)) NA_real_ else num(p$pi.lb),
                                     pi_high = if (is.null(p)) NA_real_ else num(p$pi.ub))
    }
  }
  out
}

fit_block <- function(dat, measure, method, test) {
  es <- escalc(measure, xi = dat$xi, ni = dat$ni)
  res <- suppressWarnings(rma(yi, vi, data = es, method = method, test = test, control = CTRL))
  k <- res$k
  blk <- list(measure = measure, method = method, test = test, tau2 = num(res$tau2), estimate = num(res$beta))
  if (k >= 2) {
    inf <- suppressWarnings(influence(res))
    blk$influence <- list(rstudent = arr(inf$inf$rstudent), dffits = arr(inf$inf$dffits), cook_d = arr(inf$inf$cook.d),
                          cov_r = arr(inf$inf$cov.r), tau2_del = arr(inf$inf$tau2.del), qe_del = arr(inf$inf$QE.del),
                          hat = arr(inf$inf$hat), weight = arr(inf$inf$weight), dfbetas = arr(inf$dfbs[[1]]),
                          influential = I(inf$inf$inf == "*"))
    rs <- rstandard(res)
    blk$rstandard <- list(resid = arr(rs$resid), se = arr(rs$se), z = arr(rs$z))
    bj <- suppressWarnings(baujat(res))
    blk$baujat <- list(x = arr(bj$x), y = arr(bj$y))
    blk$cumul <- list(cumul_out(res, measure, dat$ni, NULL, FALSE), cumul_out(res, measure, dat$ni, dat$ni, FALSE),
                      cumul_out(res, measure, dat$ni, dat$ni, TRUE))
    if (method != "EE") {
      ci <- attempt(confint(res, control = list(tol = 1e-12)))
      blk$confint <- if (!is.null(ci$error)) ci else
        list(tau2 = arr(ci$random["tau^2", ]), tau = arr(ci$random["tau", ]), i2 = arr(ci$random["I^2(%)", ]),
             h2 = arr(ci$random["H^2", ]), lb_sign = ci$lb.sign, ub_sign = ci$ub.sign, ci_null = ci$ci.null)
    }
  }
  blk$predprob <- predprob_out(res, measure, dat$ni)
  blk
}

gosh_block <- function(dat, measure, method) {
  es <- escalc(measure, xi = dat$xi, ni = dat$ni)
  res <- suppressWarnings(rma(yi, vi, data = es, method = method, control = CTRL))
  g <- suppressWarnings(gosh(res, progbar = FALSE))
  list(measure = measure, method = method, k = arr(g$res$k), estimate = arr(g$res$estimate), q = arr(g$res$QE),
       i2 = arr(g$res$I2), h2 = arr(g$res$H2), tau2 = arr(g$res$tau2), fit = I(unname(g$fit)))
}

out <- list(metafor_version = as.character(packageVersion("metafor")), control = CTRL, datasets = list())
for (dname in names(datasets)) {
  dat <- datasets[[dname]]
  fits <- list()
  for (measure in MEASURES) for (s in SPECS) fits[[length(fits) + 1]] <- fit_block(dat, measure, s[1], s[2])
  out$datasets[[dname]] <- list(xi = arr(dat$xi), ni = arr(dat$ni), fits = fits)
}

# GOSH: every subset, every tau^2 estimator, on small datasets (k = 8 and k = 7 with 0/n studies, k = 2)
gosh_sets <- list(
  pritz8 = list(xi = dat.pritz1997$xi[1:8], ni = dat.pritz1997$ni[1:8], measures = c("PLO", "PFT")),
  zeros = c(datasets$zeros, list(measures = c("PR", "PAS"))),
  k2 = c(datasets$k2, list(measures = c("PLO")))
)
out$gosh <- list()
for (gname in names(gosh_sets)) {
  g <- gosh_sets[[gname]]
  blocks <- list()
  for (measure in g$measures) for (method in c("EE", "DL", "REML", "ML", "PM"))
    blocks[[length(blocks) + 1]] <- gosh_block(g, measure, method)
  incl <- suppressWarnings(gosh(rma(escalc("PLO", xi = g$xi, ni = g$ni), method = "EE"), progbar = FALSE))$incl
  out$gosh[[gname]] <- list(xi = arr(g$xi), ni = arr(g$ni), incl = unname(incl * 1L), fits = blocks)
}

# study intervals: exact (binom.test) and Wilson score (prop.test without continuity correction)
sci <- list(xi = c(0, 3, 12, 9, 15, 1, 20), ni = c(10, 25, 12, 30, 15, 40, 41))
sci$levels <- list()
for (lvl in c(0.95, 0.9)) {
  cp <- t(mapply(function(x, n) binom.test(x, n, conf.level = lvl)$conf.int, sci$xi, sci$ni))
  wi <- t(mapply(function(x, n) suppressWarnings(prop.test(x, n, conf.level = lvl, correct = FALSE))$conf.int,
                 sci$xi, sci$ni))
  sci$levels[[length(sci$levels) + 1]] <- list(level = lvl, cp_low = arr(cp[, 1]), cp_high = arr(cp[, 2]),
                                               wilson_low = arr(wi[, 1]), wilson_high = arr(wi[, 2]))
}
sci$xi <- arr(sci$xi)
sci$ni <- arr(sci$ni)
out$study_intervals <- sci

json <- toJSON(out, auto_unbox = TRUE, digits = NA, na = "string", null = "null", pretty = TRUE)
writeLines(json, out_path, useBytes = TRUE)
cat("wrote", out_path, "\n")
