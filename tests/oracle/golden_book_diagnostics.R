# Golden values for the diagnostics the book shows on its own data (livingreview/review/diagnostics.py), from R
# metafor 3.8-1 on data/: per outcome with at least three pooled studies (exact counts, as the primary analysis),
#   - the model panel: rma() under every measure x method x test of livingreview.config.PANEL, and rma.glmm();
#   - under the primary specification (PLO, REML, z): influence(), baujat(), cumul() ordered by publication year
#     (the principal report's year, else the study's earliest report; unknown years last), confint() of tau^2,
#     and the meta-regressions on publication year and disease status (forced: metafor has no 10-per-covariate rule).
#
#   Rscript tests/oracle/golden_book_diagnostics.R [out.json]   # from the repo root
#
# The JSON records an MD5 fingerprint of the data tables it read: tests/test_oracle_book_diagnostics.py fails when
# data/ has changed since, until the values are regenerated and reviewed.

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
out_path <- if (length(args) >= 1) args[1] else "tests/oracle/golden_book_diagnostics.json"
CTRL <- list(threshold = 1e-12, maxiter = 10000, tol = 1e-12)
FILES <- c("data/studies.csv", "data/outcomes.csv", "data/outcome_definitions.csv", "data/reports.csv")
arr <- function(x) I(unname(as.numeric(x)))

studies <- read.csv("data/studies.csv", stringsAsFactors = FALSE, na.strings = "")
outcomes <- read.csv("data/outcomes.csv", stringsAsFactors = FALSE, na.strings = "")
defs <- read.csv("data/outcome_definitions.csv", stringsAsFactors = FALSE, na.strings = "")
reports <- read.csv("data/reports.csv", stringsAsFactors = FALSE, na.strings = "")
outcomes <- outcomes[outcomes$derivation != "missing" & outcomes$bound == "exact", ]

year_of <- function(sid) {
  r <- reports[reports$study_id == sid & !is.na(reports$year), ]
  if (nrow(r) == 0) return(NA_real_)
  p <- r[r$role == "principal", ]
  if (nrow(p) > 0) p$year[1] else min(r$year)
}

MEASURES <- c("PLO", "PAS", "PFT", "PR")
METHODS <- c("REML", "PM", "DL")
TESTS <- c("z", "knha")
transf_of <- function(measure) switch(measure, PR = NULL, PLO = transf.ilogit, PAS = transf.iarcsin,
                                      PFT = transf.ipft.hm)
prop <- function(res, measure, ni) {
  tf <- transf_of(measure)
  p <- predict(res, transf = tf, targs = if (measure == "PFT") list(ni = ni) else NULL, pi.type = "riley")
  list(estimate = p$pred, ci_low = p$ci.lb, ci_high = p$ci.ub, pi_low = p$pi.lb, pi_high = p$pi.ub)
}

out <- list()
for (o in defs$outcome) {
  # the analysis's order: data version, the paper's reference number, study id (as analyse_outcome sorts)
  d <- merge(outcomes[outcomes$outcome == o, c("study_id", "events", "total")],
             studies[, c("study_id", "ref_no", "data_version", "disease_status")], by = "study_id")
  if (nrow(d) < 3) next
  d <- d[order(d$data_version, ifelse(is.na(d$ref_no), Inf, d$ref_no), d$study_id), ]
  d$year <- sapply(d$study_id, year_of)
  panel <- list()
  for (m in MEASURES) for (me in METHODS) for (te in TESTS) {
    res <- suppressWarnings(rma(measure = m, xi = events, ni = total, data = d, method = me, test = te,
                                control = CTRL))
    panel[[length(panel) + 1]] <- c(list(measure = m, method = me, test = te, tau2 = res$tau2, i2 = res$I2),
                                    prop(res, m, d$total))
  }
  g <- suppressWarnings(rma.glmm(measure = "PLO", xi = events, ni = total, data = d))
  gp <- predict(g, transf = transf.ilogit)
  glmm <- list(estimate = gp$pred, ci_low = gp$ci.lb, ci_high = gp$ci.ub, pi_low = gp$pi.lb, pi_high = gp$pi.ub,
               tau2 = g$tau2)

  res <- rma(measure = "PLO", xi = events, ni = total, data = d, method = "REML", control = CTRL)
  inf <- influence(res)$inf
  bj <- baujat(res, progbar = FALSE)
  yr <- ifelse(is.na(d$year), Inf, d$year)
  cm <- cumul(res, order = yr, transf = transf.ilogit)
  ci <- confint(res, control = list(tol = 1e-12))$random
  reg <- function(mods) {
    r <- suppressWarnings(rma(measure = "PLO", xi = events, ni = total, data = d, mods = mods, method = "REML",
                              control = CTRL))
    list(k = r$k, beta = arr(r$beta), se = arr(r$se), pval = arr(r$pval), qm = r$QM, qm_p = r$QMp,
         tau2 = r$tau2, r2 = if (is.null(r$R2)) NA else r$R2)
  }
  regs <- list()
  if (sum(!is.na(d$year)) >= 3 && length(unique(na.omit(d$year))) > 1) regs$publication_year <- reg(~ year)
  if (length(unique(na.omit(d$disease_status))) > 1) regs$disease_status <- reg(~ factor(disease_status))
  out[[o]] <- list(
    study_id = d$study_id, panel = panel, glmm = glmm,
    influence = list(rstudent = arr(inf$rstudent), dffits = arr(inf$dffits), cook_d = arr(inf$cook.d),
                     cov_r = arr(inf$cov.r), tau2_del = arr(inf$tau2.del), qe_del = arr(inf$QE.del),
                     hat = arr(inf$hat), weight = arr(inf$weight), influential = as.logical(inf$inf == "*")),
    baujat = list(x = arr(bj$x), y = arr(bj$y)),
    cumulative = list(study_id = d$study_id[order(yr)], estimate = arr(cm$estimate), ci_low = arr(cm$ci.lb),
                      ci_high = arr(cm$ci.ub), tau2 = arr(cm$tau2), i2 = arr(cm$I2)),
    confint_tau2 = list(estimate = ci["tau^2", "estimate"], ci_low = ci["tau^2", "ci.lb"],
                        ci_high = ci["tau^2", "ci.ub"]),
    regressions = regs)
}

writeLines(toJSON(list(metafor_version = as.character(packageVersion("metafor")),
                       data_md5 = as.list(setNames(unname(tools::md5sum(FILES)), basename(FILES))),
                       outcomes = out),
                  auto_unbox = TRUE, digits = NA, na = "string", pretty = TRUE), out_path)
