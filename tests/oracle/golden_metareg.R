# Golden values for livingreview.engine.metareg (meta-regression) from R metafor (Debian r-cran-metafor 3.8-1).
#
#   Rscript tests/oracle/golden_metareg.R [out.json]   # from the repo root; default tests/oracle/golden_metareg.json
#
# Mirrored calls, per dataset x moderators x measure x (method, test):
#   rma(yi, vi, mods = ~ ..., method=, test=)     coefficients, vb, QM (chi^2 or F), QE, tau^2, I^2, H^2, R^2
#   predict(res, newmods=, pi.type=, transf=)      the regplot line: a grid over the first numeric moderator,
#                                                  the other columns at colMeans(X), as regplot() holds them
# plus influence / rstandard / baujat of a few meta-regressions, and the cases where metafor stops.
# Factors are dummy-coded by R's factor() with the C collation (the engine sorts levels the same way).
# Deterministic: no random numbers; rerunning gives the same bytes.

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})
invisible(Sys.setlocale("LC_COLLATE", "C"))

args <- commandArgs(trailingOnly = TRUE)
out_path <- if (length(args) >= 1) args[1] else "tests/oracle/golden_metareg.json"

CTRL <- list(threshold = 1e-12, maxiter = 10000, tol = 1e-12)
num <- function(x) if (is.null(x)) NA_real_ else unname(as.numeric(x))
arr <- function(x) I(unname(as.numeric(x)))
col <- function(x) if (is.numeric(x)) arr(x) else I(ifelse(is.na(x), NA, as.character(x)))

deb <- dat.debruin2009
han <- dat.hannum2020
# a realistic k = 30 set of the review's kind: regimen (3 levels, one unknown), year (since 2020), median age
reg30 <- data.frame(
  xi = c(45, 30, 88, 12, 60, 25, 70, 9, 40, 101, 33, 18, 52, 27, 64, 14, 38, 71, 22, 49, 16, 57, 31, 80, 11, 43, 26, 66, 35, 20),
  ni = c(50, 40, 100, 20, 64, 30, 90, 10, 52, 110, 45, 30, 61, 40, 70, 25, 48, 85, 35, 60, 30, 66, 44, 95, 22, 55, 37, 80, 47, 33),
  regimen = c("InO monotherapy", "InO + chemotherapy", "InO monotherapy", "InO + blinatumomab", "InO + chemotherapy",
              "InO + blinatumomab", "InO monotherapy", "InO + chemotherapy", NA, "InO monotherapy",
              "InO + chemotherapy", "InO + blinatumomab", "InO monotherapy", "InO + chemotherapy", "InO monotherapy",
              "InO + blinatumomab", "InO + chemotherapy", "InO monotherapy", "InO + blinatumomab", "InO + chemotherapy",
              "InO + blinatumomab", "InO monotherapy", "InO + chemotherapy", "InO monotherapy", "InO + blinatumomab",
              "InO + chemotherapy", "InO + blinatumomab", "InO monotherapy", "InO + chemotherapy", "InO + blinatumomab"),
  year = c(2016, 2018, 2020, 2021, 2019, 2020, 2018, 2023, 2024, 2022, 2017, 2021, 2019, 2020, 2016, 2022, 2023, 2018,
           2021, 2019, 2024, 2017, 2022, 2020, 2023, 2018, 2021, 2019, 2020, 2022) - 2020,  # centred: raw years make
  # X'WX ill-conditioned (condition ~1e8), and both sides then agree to ~1e-8 only in small differences (DFFITS)
  age = c(47, 52, 45, 60, 55, 58, 46, 62, 50, 44, 53, 57, 48, 51, 43, 61, 54, 49, 59, 52, 63, 46, 50, 47, 64, 53, 56, 45, 51, 60),
  stringsAsFactors = FALSE)
deb_other <- deb[deb$ethnicity == "other", ]          # a moderator constant within this subgroup: the 0/1
deb_other$other <- as.numeric(deb_other$ethnicity == "other")   # dummy is all 1, aliased with the intercept
deb_na <- deb
deb_na$scq[4] <- NA                                   # one study without the moderator

MODELS <- list(
  list(data = "debruin2009", mods = c("scq")),
  list(data = "debruin2009", mods = c("ethnicity")),
  list(data = "debruin2009", mods = c("scq", "ethnicity")),
  list(data = "debruin2009", mods = c("year", "patients")),
  list(data = "hannum2020", mods = c("objectivity")),
  list(data = "reg30", mods = c("regimen")),
  list(data = "reg30", mods = c("year", "regimen")),
  list(data = "reg30", mods = c("age", "year")),
  list(data = "deb_other", mods = c("scq", "other")),
  list(data = "deb_na", mods = c("scq"))
)
DATA <- list(debruin2009 = deb, hannum2020 = han, reg30 = reg30, deb_other = deb_other, deb_na = deb_na)
MEASURES <- c("PLO", "PFT")
SPECS <- list(c("EE", "z"), c("DL", "z"), c("DL", "knha"), c("REML", "z"), c("REML", "knha"), c("ML", "t"),
              c("PM", "adhoc"))

transf_of <- function(measure) switch(measure, PR = function(x) x, PLO = transf.ilogit, PAS = transf.iarcsin,
                                      PFT = transf.ipft.hm)

fit_one <- function(dat, mods, measure, method, test) {
  es <- escalc(measure, xi = dat$xi, ni = dat$ni, data = dat)
  f <- as.formula(paste("~", paste(sapply(mods, function(m) if (is.numeric(dat[[m]])) m else paste0("factor(", m, ")")),
                                   collapse = " + ")))
  res <- tryCatch(suppressWarnings(rma(yi, vi, mods = f, data = es, method = method, test = test, control = CTRL)),
                  error = function(e) conditionMessage(e))
  base <- list(measure = measure, method = method, test = test)
  if (is.character(res)) return(c(base, list(error = res)))
  used <- res$not.na
  out <- c(base, list(k = res$k, p = res$p, names = I(rownames(res$beta)), beta = arr(res$beta), se = arr(res$se),
                      zval = arr(res$zval), pval = arr(res$pval), ci_low = arr(res$ci.lb), ci_high = arr(res$ci.ub),
                      vb = arr(res$vb), qm = num(res$QM), qm_df = arr(res$QMdf), qm_p = num(res$QMp), qe = num(res$QE),
                      qe_p = num(res$QEp), tau2 = num(res$tau2), se_tau2 = num(res$se.tau2), i2 = num(res$I2),
                      h2 = num(res$H2), r2 = num(res$R2)))
  # the regplot line over the first numeric moderator that survived, others at their mean
  numeric <- mods[sapply(mods, function(m) is.numeric(dat[[m]]))]
  numeric <- numeric[numeric %in% colnames(res$X)]
  if (length(numeric) > 0 && res$p > 1) {
    j <- match(numeric[1], colnames(res$X))
    grid <- seq(min(res$X[, j]), max(res$X[, j]), length.out = 7)
    nm <- matrix(colMeans(res$X)[-1], nrow = length(grid), ncol = res$p - 1, byrow = TRUE)
    nm[, j - 1] <- grid
    targs <- if (measure == "PFT") list(ni = dat$ni[used]) else NULL
    out$line <- list(moderator = numeric[1], x = arr(grid))
    for (pt in c("riley", "t")) {
      p <- predict(res, newmods = nm, pi.type = pt)
      pb <- predict(res, newmods = nm, pi.type = pt, transf = transf_of(measure), targs = targs)
      out$line[[pt]] <- list(pred = arr(p$pred), se = arr(p$se), ci_low = arr(p$ci.lb), ci_high = arr(p$ci.ub),
                             pi_low = arr(p$pi.lb), pi_high = arr(p$pi.ub), prop_pred = arr(pb$pred),
                             prop_ci_low = arr(pb$ci.lb), prop_ci_high = arr(pb$ci.ub),
                             prop_pi_low = arr(pb$pi.lb), prop_pi_high = arr(pb$pi.ub))
    }
  }
  if (method %in% c("REML", "DL") && res$p > 1) {
    inf <- suppressWarnings(influence(res))
    bj <- suppressWarnings(baujat(res))
    rs <- rstandard(res)
    out$influence <- list(rstudent = arr(inf$inf$rstudent), dffits = arr(inf$inf$dffits), cook_d = arr(inf$inf$cook.d),
                          cov_r = arr(inf$inf$cov.r), tau2_del = arr(inf$inf$tau2.del), qe_del = arr(inf$inf$QE.del),
                          hat = arr(inf$inf$hat), weight = arr(inf$inf$weight),
                          dfbetas = unname(lapply(unclass(inf$dfbs)[seq_len(res$p)], arr)), influential = I(inf$inf$inf == "*"),
                          baujat_x = arr(bj$x), baujat_y = arr(bj$y), rstandard = arr(rs$z))
  }
  out
}

out <- list(metafor_version = as.character(packageVersion("metafor")), control = CTRL, models = list())
for (m in MODELS) {
  dat <- DATA[[m$data]]
  fits <- list()
  for (measure in MEASURES) for (s in SPECS) fits[[length(fits) + 1]] <- fit_one(dat, m$mods, measure, s[1], s[2])
  out$models[[length(out$models) + 1]] <- list(
    data = m$data, mods = I(m$mods), xi = arr(dat$xi), ni = arr(dat$ni),
    columns = setNames(lapply(m$mods, function(v) col(dat[[v]])), m$mods), fits = fits)
}

# where metafor stops: more parameters than studies; a moderator that is the same as another
tiny <- data.frame(xi = c(5, 10, 15), ni = c(20, 25, 30), x1 = c(1, 2, 3), x2 = c(2, 1, 5))
dup <- data.frame(xi = c(5, 10, 15, 7, 9), ni = c(20, 25, 30, 22, 18), x1 = c(1, 2, 3, 4, 5))
dup$x2 <- 2 * dup$x1
out$stops <- list(
  list(xi = arr(tiny$xi), ni = arr(tiny$ni), columns = list(x1 = arr(tiny$x1), x2 = arr(tiny$x2)), method = "REML",
       error = tryCatch(rma(yi, vi, mods = ~ x1 + x2, data = escalc("PLO", xi = xi, ni = ni, data = tiny)),
                        error = function(e) conditionMessage(e))))
dres <- suppressWarnings(rma(yi, vi, mods = ~ x1 + x2, data = escalc("PLO", xi = xi, ni = ni, data = dup),
                             control = CTRL))
out$aliased <- list(xi = arr(dup$xi), ni = arr(dup$ni), columns = list(x1 = arr(dup$x1), x2 = arr(dup$x2)),
                    names = I(rownames(dres$beta)), beta = arr(dres$beta), se = arr(dres$se), tau2 = num(dres$tau2))

json <- toJSON(out, auto_unbox = TRUE, digits = NA, na = "string", null = "null", pretty = TRUE)
writeLines(json, out_path, useBytes = TRUE)
cat("wrote", out_path, "\n")
