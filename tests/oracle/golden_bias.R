# Golden values for livingreview.engine.bias and livingreview.engine.glmm from R metafor (Debian r-cran-metafor 3.8-1) + lme4.
#
# Run from the repository root:   Rscript tests/oracle/golden_bias.R [output.json]
# (default output: tests/oracle/golden_bias.json). Deterministic: no random numbers, fixed digits.
#
# Mirrored calls, per dataset x measure x method:
#   regtest(res, model="lm", predictor="sei")        classical Egger
#   regtest(res, model="lm", predictor="sqrtninv")   Egger on 1/sqrt(n) (Peters-type predictor)
#   ranktest(res)                                    Begg & Mazumdar (cor.test kendall, exact=TRUE)
#   trimfill(res, estimator="L0"/"R0"[, side=])      trim-and-fill
# and per dataset rma.glmm(measure="PLO", method="ML"/"FE") (lme4::glmer, nAGQ=7).
#
# 3.8-1 note: trimfill() does not pass the model's `control` on to its internal rma.uni() refits (5.x does),
# so the tight control is given to trimfill() explicitly through `...`.

suppressMessages({
  library(metafor)
  library(lme4)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
out <- if (length(args) >= 1) args[1] else file.path("tests", "oracle", "golden_bias.json")

ctrl <- list(threshold = 1e-12, maxiter = 10000)          # rma.uni Fisher scoring: converge tightly
glmer_ctrl <- list(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e5))

num <- function(x) if (is.null(x)) NA_real_ else unname(as.numeric(x))
arr <- function(x) I(unname(as.numeric(x)))                # always a JSON array, even of length 0/1

# ---- datasets (inputs are written into the JSON) ------------------------------------------------
datasets <- list(
  list(name = "pritz1997", xi = dat.pritz1997$xi, ni = dat.pritz1997$ni, bias = TRUE, glmm = TRUE,
       note = "metadat dat.pritz1997 (k=14; several xi == ni)"),
  list(name = "debruin2009", xi = dat.debruin2009$xi, ni = dat.debruin2009$ni, bias = TRUE, glmm = TRUE,
       note = "metadat dat.debruin2009 (k=13)"),
  list(name = "hannum2020", xi = dat.hannum2020$xi, ni = dat.hannum2020$ni, bias = TRUE, glmm = TRUE,
       note = "metadat dat.hannum2020 (k=35)"),
  list(name = "asym_realistic", bias = TRUE, glmm = TRUE,
       ni = c(14, 18, 22, 25, 31, 36, 42, 50, 57, 64, 78, 95, 110, 160),
       xi = c( 9,  8, 13, 11, 15, 14, 19, 20, 22, 24, 27, 34,  37,  52),
       note = "realistic k=14 set, small studies report higher proportions"),
  list(name = "fill_left", bias = TRUE, glmm = TRUE,
       ni = c(12, 15, 18, 20, 24, 25, 30, 35, 40, 48, 60, 75, 90, 120, 150, 200),
       xi = c( 8,  9, 10, 11, 12, 12, 14, 15, 16, 18, 22, 26, 30,  38,  46,  60),
       note = "k=16, strong small-study excess of high proportions: fills on the left"),
  list(name = "fill_right", bias = TRUE, glmm = TRUE,
       ni = c(10, 14, 16, 20, 25, 28, 32, 40, 50, 65, 80, 100, 140, 180),
       xi = c( 1,  2,  3,  4,  6,  7,  9, 12, 16, 22, 28,  36,  52,  68),
       note = "k=14, small studies report lower proportions: fills on the right"),
  list(name = "symmetric", bias = TRUE, glmm = TRUE,
       ni = c(20, 25, 30, 40, 50, 60, 80, 100, 120, 150, 35, 45),
       xi = c( 9,  9, 13, 15, 21, 23, 33,  39,  49,  59, 13, 19),
       note = "k=12, no small-study pattern"),
  list(name = "zeros", bias = TRUE, glmm = TRUE,
       ni = c(15, 22, 30, 41, 48, 55, 60, 72, 85, 100, 120, 164),
       xi = c( 0,  1,  0,  2,  3,  0,  4,  2,  5,   6,   4,   9),
       note = "k=12 rare-event set with three 0-event studies"),
  list(name = "small6", bias = TRUE, glmm = TRUE,
       ni = c(25, 40, 33, 60, 18, 90),
       xi = c(10, 22, 12, 30,  9, 41),
       note = "k=6: below the k>=10 rule (force=True path)"),
  list(name = "homogeneous", bias = FALSE, glmm = TRUE,
       ni = c(50, 60, 40, 80, 100, 70, 55, 65),
       xi = c(20, 25, 15, 33, 39, 28, 22, 26),
       note = "k=8, nearly identical proportions: GLMM tau^2 on the boundary 0")
)

measures <- c("PLO", "PFT", "PR", "PAS")
methods <- c("DL", "REML")

backtransf <- function(measure) switch(measure, PLO = transf.ilogit, PFT = transf.ipft.hm, PAS = transf.iarcsin,
                                       PR = function(x, ...) x)

pred_prop <- function(fit, measure) {
  p <- if (measure == "PFT") predict(fit, transf = transf.ipft.hm, targs = list(ni = fit$ni))
       else predict(fit, transf = backtransf(measure))
  list(estimate = num(p$pred), ci_lb = num(p$ci.lb), ci_ub = num(p$ci.ub))
}

reg_out <- function(rt) {
  cf <- coef(summary(rt$fit))
  list(zval = num(rt$zval), pval = num(rt$pval), dfs = num(rt$dfs),
       est = num(rt$est), ci_lb = num(rt$ci.lb), ci_ub = num(rt$ci.ub),
       intercept = num(cf[1, 1]), intercept_se = num(cf[1, 2]),
       slope = num(cf[2, 1]), slope_se = num(cf[2, 2]))
}

tf_out <- function(tf, measure) {
  fill <- tf$fill
  list(k0 = num(tf$k0), side = tf$side, se_k0 = num(tf$se.k0), p_k0 = num(tf$p.k0),
       k = num(tf$k), estimate = num(tf$beta), se = num(tf$se), zval = num(tf$zval), pval = num(tf$pval),
       ci_lb = num(tf$ci.lb), ci_ub = num(tf$ci.ub), tau2 = num(tf$tau2), i2 = num(tf$I2),
       yi_fill = arr(tf$yi[fill]), vi_fill = arr(tf$vi[fill]), ni_fill = arr(tf$ni[fill]),
       proportion = pred_prop(tf, measure))
}

bias_block <- function(xi, ni, measure, method) {
  es <- escalc(measure, xi = xi, ni = ni)
  res <- rma(yi, vi, data = es, method = method, control = ctrl)
  rk <- suppressWarnings(ranktest(res))
  ties <- length(unique(res$vi)) < res$k ||
          length(unique((res$yi - weighted.mean(res$yi, 1 / res$vi)) / sqrt(res$vi - 1 / sum(1 / res$vi)))) < res$k
  tf <- list(
    L0 = trimfill(res, estimator = "L0", control = ctrl),
    R0 = trimfill(res, estimator = "R0", control = ctrl),
    L0_left = trimfill(res, estimator = "L0", side = "left", control = ctrl),
    L0_right = trimfill(res, estimator = "L0", side = "right", control = ctrl)
  )
  side_fit <- rma(yi, vi, mods = ~ sqrt(vi), data = es, method = method, control = ctrl)  # trimfill's side rule
  list(measure = measure, method = method,
       yi = arr(es$yi), vi = arr(es$vi), ni_attr = arr(attr(es$yi, "ni")),
       rma = list(estimate = num(res$beta), se = num(res$se), tau2 = num(res$tau2)),
       side_regression = list(intercept = num(side_fit$beta[1]), slope = num(side_fit$beta[2]),
                              tau2 = num(side_fit$tau2)),
       regtest = reg_out(regtest(res, model = "lm", predictor = "sei")),
       regtest_sqrtninv = reg_out(regtest(res, model = "lm", predictor = "sqrtninv")),
       ranktest = list(tau = num(rk$tau), pval = num(rk$pval), ties = ties),
       trimfill = lapply(tf, tf_out, measure = measure))
}

glmm_block <- function(xi, ni, method) {
  fit <- suppressWarnings(rma.glmm(measure = "PLO", xi = xi, ni = ni, method = method, retfit = TRUE,
                                   control = list(glmerCtrl = glmer_ctrl)))
  ll_sat <- sum(dbinom(xi, ni, xi / ni, log = TRUE))
  dev <- if (method == "ML") num(fit$res.ML@devcomp$cmp[["dev"]]) else NA_real_
  p <- predict(fit, transf = transf.ilogit)
  pz <- predict(fit)
  list(method = method, estimate = num(fit$beta), se = num(fit$se), zval = num(fit$zval), pval = num(fit$pval),
       ci_lb = num(fit$ci.lb), ci_ub = num(fit$ci.ub), tau2 = num(fit$tau2),
       i2 = num(fit$I2), h2 = num(fit$H2), qe_wald = num(fit$QE.Wld), qe_lrt = num(fit$QE.LRT),
       qe_df = num(fit$QE.df),
       # -2 log-lik (relative to the saturated binomial model) that glmer minimises, and that model's log-lik:
       # the AGQ marginal log-likelihood is ll_sat - agq_dev / 2.
       agq_dev = dev, ll_sat = ll_sat, loglik = if (method == "ML") ll_sat - dev / 2 else num(fit$fit.stats["ll", "ML"]),
       pi_lb = num(pz$pi.lb), pi_ub = num(pz$pi.ub),
       proportion = list(estimate = num(p$pred), ci_lb = num(p$ci.lb), ci_ub = num(p$ci.ub)))
}

out_sets <- lapply(datasets, function(d) {
  cat("dataset", d$name, "\n", file = stderr())
  blk <- list()
  if (d$bias) for (m in measures) for (meth in methods) blk[[length(blk) + 1]] <- bias_block(d$xi, d$ni, m, meth)
  g <- if (d$glmm) list(ML = glmm_block(d$xi, d$ni, "ML"), FE = glmm_block(d$xi, d$ni, "FE")) else NULL
  list(name = d$name, note = d$note, xi = arr(d$xi), ni = arr(d$ni), bias = blk, glmm = g)
})

golden <- list(
  generator = "tests/oracle/golden_bias.R",
  metafor_version = as.character(packageVersion("metafor")),
  lme4_version = as.character(packageVersion("lme4")),
  r_version = paste(R.version$major, R.version$minor, sep = "."),
  rma_control = ctrl,
  glmer_control = glmer_ctrl,
  datasets = out_sets
)

writeLines(toJSON(golden, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"), out)
cat("wrote", out, "\n", file = stderr())
