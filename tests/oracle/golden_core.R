# Golden values for the engine core (effects.py, model.py, subgroups.py, sensitivity.py) from R metafor.
#
#   Rscript tests/oracle/golden_core.R [out.json]      # from the repo root; default tests/oracle/golden_core.json
#
# Written against Debian r-cran-metafor 3.8-1 (pi.type accepts only lowercase "riley"/"t"). Inputs are stored
# in the JSON so the Python tests need no R. Deterministic: rerunning gives the same bytes.

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
out_path <- if (length(args) >= 1) args[1] else "tests/oracle/golden_core.json"

# tight convergence so 1e-6 relative agreement is meaningful (metafor's defaults: threshold 1e-5, tol ~1.2e-4)
CTRL <- list(threshold = 1e-12, maxiter = 10000, tol = 1e-12)

MEASURES <- c("PR", "PLO", "PAS", "PFT")
METHODS <- c("EE", "DL", "REML", "PM", "ML")
TESTS <- c("z", "t", "knha", "adhoc")
PI_TYPES <- c(z = "default", t1 = "t", t2 = "riley")   # our pi_dist -> metafor pi.type

# ---- datasets -------------------------------------------------------------------------------------------
datasets <- list(
  miller1978 = list(xi = c(3, 6, 10, 1), ni = c(11, 17, 21, 6), groups = NULL),
  pritz1997 = list(xi = dat.pritz1997$xi, ni = dat.pritz1997$ni, groups = NULL),
  hetero15 = list(
    xi = c(12, 45, 8, 30, 22, 61, 5, 17, 40, 9, 27, 33, 14, 50, 19),
    ni = c(40, 88, 35, 52, 60, 97, 25, 31, 66, 38, 45, 80, 20, 71, 55),
    groups = c("A", "B", "A", "C", "B", "B", "A", NA, "C", "A", "C", "B", "", "C", "A")),
  zeros_and_full = list(
    xi = c(0, 3, 12, 9, 0, 15, 7),
    ni = c(10, 25, 12, 30, 18, 15, 40),
    groups = c("x", "y", "x", "y", "x", "z", "y")),   # level "z" has k = 1
  k1 = list(xi = c(7), ni = c(23), groups = NULL),
  k2 = list(xi = c(7, 20), ni = c(23, 41), groups = NULL),
  all_zero = list(xi = c(0, 0, 0, 0, 0), ni = c(12, 30, 8, 45, 20), groups = NULL),
  all_full = list(xi = c(12, 30, 8, 45), ni = c(12, 30, 8, 45), groups = NULL),
  homogeneous = list(xi = c(30, 61, 14, 45, 24, 90), ni = c(100, 200, 50, 150, 80, 300), groups = NULL)
)

backtransform <- function(measure, x, ni) {
  switch(measure,
         PR = x,
         PLO = transf.ilogit(x),
         PAS = transf.iarcsin(x),
         PFT = transf.ipft.hm(x, targs = list(ni = ni)))
}

num <- function(x) if (is.null(x)) NA_real_ else as.numeric(x)

fit_one <- function(dat, es, measure, method, test) {
  res <- tryCatch(suppressWarnings(rma(yi, vi, data = es, method = method, test = test, control = CTRL)),
                  error = function(e) conditionMessage(e))
  if (is.character(res)) return(list(measure = measure, method = method, test = test, error = res))
  out <- list(measure = measure, method = method, test = test, test_used = res$test,
              estimate = num(res$beta), se = num(res$se), zval = num(res$zval), pval = num(res$pval),
              ci_low = num(res$ci.lb), ci_high = num(res$ci.ub), tau2 = num(res$tau2),
              se_tau2 = num(res$se.tau2), i2 = num(res$I2), h2 = num(res$H2), q = num(res$QE),
              q_p = num(res$QEp), weights = as.numeric(weights(res)))
  # prediction intervals for each pi.type (flat keys pi_<z|t1|t2>_<low|high>); NA for EE models
  for (nm in names(PI_TYPES)) {
    p <- if (PI_TYPES[[nm]] == "default") predict(res) else predict(res, pi.type = PI_TYPES[[nm]])
    out[[paste0("pi_", nm, "_low")]] <- num(p$pi.lb)
    out[[paste0("pi_", nm, "_high")]] <- num(p$pi.ub)
  }
  # back-transformed estimate / CI via predict(transf=), and the riley PI via the same transf functions
  ni <- dat$ni
  pt <- if (measure == "PFT") predict(res, transf = transf.ipft.hm, targs = list(ni = ni)) else
        if (measure == "PLO") predict(res, transf = transf.ilogit) else
        if (measure == "PAS") predict(res, transf = transf.iarcsin) else predict(res)
  out$prop_estimate <- num(pt$pred)
  out$prop_ci_low <- num(pt$ci.lb)
  out$prop_ci_high <- num(pt$ci.ub)
  out$prop_pi_t2_low <- num(backtransform(measure, out$pi_t2_low, ni))
  out$prop_pi_t2_high <- num(backtransform(measure, out$pi_t2_high, ni))
  out
}

loo_one <- function(dat, es, measure, method, test) {
  res <- suppressWarnings(rma(yi, vi, data = es, method = method, test = test, control = CTRL))
  l <- suppressWarnings(leave1out(res))
  transf <- switch(measure, PR = NULL, PLO = transf.ilogit, PAS = transf.iarcsin, PFT = transf.ipft.hm)
  lt <- if (is.null(transf)) l else if (measure == "PFT")
    suppressWarnings(leave1out(res, transf = transf, targs = list(ni = dat$ni))) else
    suppressWarnings(leave1out(res, transf = transf))
  list(measure = measure, method = method, test = test,
       estimate = as.numeric(l$estimate), se = as.numeric(l$se), pval = as.numeric(l$pval),
       ci_low = as.numeric(l$ci.lb), ci_high = as.numeric(l$ci.ub), q = as.numeric(l$Q),
       q_p = as.numeric(l$Qp), tau2 = if (is.null(l$tau2)) NULL else as.numeric(l$tau2),
       i2 = as.numeric(l$I2), h2 = as.numeric(l$H2),
       prop_estimate = as.numeric(lt$estimate), prop_ci_low = as.numeric(lt$ci.lb),
       prop_ci_high = as.numeric(lt$ci.ub))
}

subgroup_one <- function(dat, es, measure, method, test) {
  g <- dat$groups
  g[!is.na(g) & g == ""] <- NA
  lv <- unique(g[!is.na(g)])                       # first-appearance order
  fits <- list()
  est <- se <- numeric(0)
  for (L in lv) {
    r <- suppressWarnings(rma(yi, vi, data = es, subset = which(g == L), method = method, test = test,
                              control = CTRL))
    pr <- predict(r, pi.type = "riley")
    fits[[length(fits) + 1]] <- list(level = L, k = r$k, estimate = num(r$beta), se = num(r$se),
                                     ci_low = num(r$ci.lb), ci_high = num(r$ci.ub), tau2 = num(r$tau2),
                                     i2 = num(r$I2), q = num(r$QE), pi_low_t2 = num(pr$pi.lb),
                                     pi_high_t2 = num(pr$pi.ub))
    est <- c(est, r$beta); se <- c(se, r$se)
  }
  qb <- rma(yi = est, sei = se, method = "EE")
  list(measure = measure, method = method, test = test, levels = fits,
       q_between = num(qb$QE), q_between_df = length(lv) - 1, q_between_p = num(qb$QEp))
}

# ---- run ------------------------------------------------------------------------------------------------
out <- list(metafor_version = as.character(packageVersion("metafor")),
            control = CTRL, datasets = list())
for (dname in names(datasets)) {
  dat <- datasets[[dname]]
  k <- length(dat$xi)
  entry <- list(xi = dat$xi, ni = dat$ni, groups = if (is.null(dat$groups)) NULL else lapply(dat$groups, function(v) if (is.na(v)) NULL else v),
                escalc = list(), fits = list(), leave1out = list(), subgroups = list())
  for (measure in MEASURES) {
    es <- escalc(measure = measure, xi = dat$xi, ni = dat$ni)
    entry$escalc[[measure]] <- list(yi = as.numeric(es$yi), vi = as.numeric(es$vi))
    for (method in METHODS) for (test in TESTS) {
      # t and adhoc on DL and REML only (every option is still covered on every dataset)
      if (test %in% c("t", "adhoc") && !(method %in% c("DL", "REML"))) next
      entry$fits[[length(entry$fits) + 1]] <- fit_one(dat, es, measure, method, test)
    }
    if (k >= 2) for (mt in list(c("EE", "z"), c("DL", "knha"), c("REML", "z"), c("PM", "adhoc"))) {
      entry$leave1out[[length(entry$leave1out) + 1]] <- loo_one(dat, es, measure, mt[1], mt[2])
    }
    if (!is.null(dat$groups)) for (method in c("EE", "DL", "REML")) for (test in c("z", "knha")) {
      entry$subgroups[[length(entry$subgroups) + 1]] <- subgroup_one(dat, es, measure, method, test)
    }
  }
  out$datasets[[dname]] <- entry
}

# escalc options other than the default (add / to), on the zeros_and_full data
z <- datasets$zeros_and_full
opts <- list(list(measure = "PR", add = 0.5, to = "all"), list(measure = "PLO", add = 0.5, to = "if0all"),
             list(measure = "PLO", add = 0.25, to = "only0"), list(measure = "PAS", add = 0.5, to = "only0"),
             list(measure = "PFT", add = 0.5, to = "all"), list(measure = "PR", add = 0, to = "only0"),
             list(measure = "PAS", add = 0.5, to = "none"))
out$escalc_options <- lapply(opts, function(o) {
  es <- escalc(measure = o$measure, xi = z$xi, ni = z$ni, add = o$add, to = o$to)
  c(o, list(xi = z$xi, ni = z$ni, yi = as.numeric(es$yi), vi = as.numeric(es$vi)))
})

# back-transforms on a grid, including values outside the attainable range (clamping)
grid <- c(-0.5, -0.01, 0, 0.05, 0.2, 0.5, 0.785398, 1, 1.3, 1.5, 1.5707963, 1.6, 2)
bt_ni <- c(11, 17, 21, 6)
out$back_transforms <- list(values = grid, ni = bt_ni, ilogit = transf.ilogit(grid),
                            iarcsin = transf.iarcsin(grid), ipft_hm = transf.ipft.hm(grid, targs = list(ni = bt_ni)))

# na = "string" keeps NA, NaN, Inf and -Inf apart ("NA", "NaN", "Inf", "-Inf"); missing groups are null
json <- toJSON(out, auto_unbox = TRUE, digits = NA, na = "string", null = "null", pretty = TRUE)
writeLines(json, out_path, useBytes = TRUE)
cat("wrote", out_path, "\n")
