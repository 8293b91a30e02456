# Golden values for the book's own numbers: every outcome × (overall, each subgroup level) of the extraction
# dataset in data/, fitted by R metafor under the specifications the book shows.
#
#   Rscript tests/oracle/golden_results.R [out.json]   # from the repo root; default tests/oracle/golden_results.json
#
# The JSON records an MD5 fingerprint of the data tables it read; tests/test_oracle_results.py fails when data/
# has changed since, so a new figure in the dataset is checked against metafor before the book can claim it.

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
out_path <- if (length(args) >= 1) args[1] else "tests/oracle/golden_results.json"
CTRL <- list(threshold = 1e-12, maxiter = 10000, tol = 1e-12)
FILES <- c("data/studies.csv", "data/outcomes.csv", "data/outcome_definitions.csv")

# our spec -> metafor arguments (pi_dist t2 = pi.type "riley" in metafor 3.8-1)
SPECS <- list(
  list(measure = "PLO", method = "REML", test = "z", pi_dist = "t2"),
  list(measure = "PFT", method = "DL", test = "z", pi_dist = "t2"),
  list(measure = "PR", method = "DL", test = "z", pi_dist = "t2"),
  list(measure = "PAS", method = "REML", test = "knha", pi_dist = "t1")
)
PI_TYPE <- c(z = "default", t1 = "t", t2 = "riley")

studies <- read.csv("data/studies.csv", stringsAsFactors = FALSE, na.strings = "")
outcomes <- read.csv("data/outcomes.csv", stringsAsFactors = FALSE, na.strings = "")
defs <- read.csv("data/outcome_definitions.csv", stringsAsFactors = FALSE, na.strings = "")
counted <- outcomes[outcomes$derivation != "missing", ]
# The primary analysis pools exact counts only: a count that is only a bound (column `bound`) is left out.
outcomes <- counted[counted$bound == "exact", ]

transf_for <- function(measure) switch(measure, PR = NULL, PLO = transf.ilogit, PAS = transf.iarcsin,
                                       PFT = transf.ipft.hm)

fit <- function(d, spec) {
  es <- escalc(measure = spec$measure, xi = d$events, ni = d$total)
  res <- suppressWarnings(rma(yi, vi, data = es, method = spec$method, test = spec$test, control = CTRL))
  tf <- transf_for(spec$measure)
  targs <- if (spec$measure == "PFT") list(ni = d$total) else NULL
  p <- if (PI_TYPE[[spec$pi_dist]] == "default") predict(res, transf = tf, targs = targs) else
    predict(res, transf = tf, targs = targs, pi.type = PI_TYPE[[spec$pi_dist]])
  pi_ok <- res$k >= (if (spec$pi_dist == "t2") 3 else 2)   # our engine: NaN where df < 1 (metafor uses df = 1)
  list(k = res$k, estimate = p$pred, ci_low = p$ci.lb, ci_high = p$ci.ub,
       pi_low = if (pi_ok) p$pi.lb else NA, pi_high = if (pi_ok) p$pi.ub else NA,
       tau2 = res$tau2, i2 = res$I2, q = res$QE, q_p = res$QEp, yi = res$beta[1], se = res$se)
}

rows <- list()
for (spec in SPECS) {
  for (o in defs$outcome) {
    d <- merge(outcomes[outcomes$outcome == o, c("study_id", "events", "total")],
               studies[, c("study_id", "regimen", "disease_status")], by = "study_id")
    if (nrow(d) == 0) next
    r <- fit(d, spec)
    rows[[length(rows) + 1]] <- c(spec, list(outcome = o, subgroup = "overall", level = ""), r,
                                  list(q_between = NA, q_between_df = NA, q_between_p = NA))
    sg <- defs$subgroups[defs$outcome == o]
    cols <- if (is.na(sg) || sg == "") character(0) else strsplit(sg, ";")[[1]]
    for (col in cols) {
      g <- d[!is.na(d[[col]]) & d[[col]] != "", ]
      if (nrow(g) == 0) next
      levels <- unique(g[[col]])
      fits <- lapply(levels, function(lv) fit(g[g[[col]] == lv, ], spec))
      # Q between: the level estimates pooled with a common-effect model (metafor: rma(est, sei, method = "EE")$QE)
      qb <- if (length(levels) > 1) {
        m <- rma(yi = sapply(fits, `[[`, "yi"), sei = sapply(fits, `[[`, "se"), method = "EE")
        list(q_between = m$QE, q_between_df = length(levels) - 1, q_between_p = m$QEp)
      } else list(q_between = NA, q_between_df = 0, q_between_p = NA)   # one level: no test
      for (i in seq_along(levels)) {
        rows[[length(rows) + 1]] <- c(spec, list(outcome = o, subgroup = col, level = levels[[i]]), fits[[i]], qb)
      }
    }
  }
}

# The sensitivity analyses over which rows are pooled, under every specification: only the denominators of the
# outcome's stated population (outcome_definitions.csv), one study per group of studies that share patients (the
# largest; groups from studies.csv overlaps_with), and exact counts together with bounds.
group_of <- function(ids) {  # study_id -> the sorted ids of its group of overlapping studies (linked either way)
  g <- setNames(as.list(ids), ids)
  for (i in seq_len(nrow(studies))) {
    for (other in strsplit(ifelse(is.na(studies$overlaps_with[i]), "", studies$overlaps_with[i]), ";")[[1]]) {
      a <- studies$study_id[i]
      if (a %in% ids && other %in% ids) {
        merged <- sort(unique(c(g[[a]], g[[other]])))
        for (m in merged) g[[m]] <- merged
      }
    }
  }
  sapply(g, paste, collapse = " + ")
}
one_per_group <- function(d) {
  grp <- group_of(d$study_id)[d$study_id]
  d <- d[order(-d$total), ]
  d[!duplicated(grp[d$study_id]), ]
}
choices <- list()
for (spec in SPECS) {
  for (o in defs$outcome) {
    pop <- defs$population[defs$outcome == o]
    d_o <- outcomes[outcomes$outcome == o, ]
    picks <- list(population = d_o[d_o$population == pop, ], bounds = counted[counted$outcome == o, ])
    if (nrow(d_o) > 0 && any(duplicated(group_of(d_o$study_id)))) picks$overlap <- one_per_group(d_o)
    for (name in names(picks)) {
      d <- picks[[name]]
      if (nrow(d) == 0) next
      choices[[length(choices) + 1]] <- c(spec, list(outcome = o, rows = name), fit(d, spec))
    }
  }
}

out <- list(
  metafor_version = as.character(packageVersion("metafor")),
  data_md5 = as.list(setNames(unname(tools::md5sum(FILES)), basename(FILES))),
  rows = rows,
  choices = choices
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, na = "string", pretty = TRUE), out_path)
