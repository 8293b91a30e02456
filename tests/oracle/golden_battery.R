# A seeded battery of random and degenerate proportion datasets, each fitted once by R metafor (Debian
# r-cran-metafor 3.8-1) + lme4, with every error metafor raises recorded as an error.
#
#   Rscript tests/oracle/golden_battery.R [out.json]   # from the repo root; default tests/oracle/golden_battery.json
#
# Datasets: the cases named in issue 15 (two studies, a leave-one-out refit that does not converge, Fisher
# scoring that oscillates, all zero, identical proportions, equal variances), then seeded random ones: k from 1
# to 60 (log-uniform, so small k are common), n from 5 to 500, with 0/n and n/n counts, identical
# proportions, and k = 2 and 3 over-represented.
# Per dataset:
#   rma(yi, vi, method=)         every measure (PR, PLO, PAS, PFT) x method (EE, DL, REML, PM, ML); when Fisher
#                                scoring does not converge, refitted with control$stepadj = 0.5, 0.25, 0.125 (the
#                                engine's retry sequence) and the step that converged recorded
#   leave1out(res)               PLO and PFT, REML (rows NA where a refit fails)
#   trimfill(res)                PLO and PR, EE / DL / REML / PM, side chosen by metafor
#   regtest(res, model="lm"), ranktest(res)   PLO
#   rma.glmm(measure="PLO")      ML, with glmer's warnings recorded
# Numbers with 15 significant digits (the file stays a few MB). Deterministic: set.seed, same bytes each run.

suppressPackageStartupMessages({
  library(metafor)
  library(lme4)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
out_path <- if (length(args) >= 1) args[1] else "tests/oracle/golden_battery.json"

SEED <- 20250615
N_RANDOM <- 300
CTRL <- list(threshold = 1e-12, maxiter = 10000, tol = 1e-12)
STEPS <- c(1, 0.5, 0.25, 0.125)
GLMER <- list(glmerCtrl = list(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e5)))
MEASURES <- c("PR", "PLO", "PAS", "PFT")
METHODS <- c("EE", "DL", "REML", "PM", "ML")

num <- function(x) if (is.null(x)) NA_real_ else unname(as.numeric(x))
arr <- function(x) I(unname(as.numeric(x)))
err <- function(e) list(error = conditionMessage(e))

# ---- datasets -------------------------------------------------------------------------------------------
named <- list(
  trimfill_k2 = list(xi = c(7, 20), ni = c(23, 41)),
  loo_refit_fails = list(xi = c(13, 14, 18, 468, 25, 68, 61, 153, 55), ni = c(13, 14, 18, 468, 25, 68, 63, 172, 56)),
  fisher_oscillates = list(xi = c(rep(0, 15), 41),
                           ni = c(495, 426, 66, 483, 160, 133, 262, 393, 43, 324, 85, 42, 138, 465, 496, 357)),
  seven_zero = list(xi = rep(0, 7), ni = c(12, 30, 8, 45, 20, 150, 64)),
  all_full = list(xi = c(12, 30, 8, 45), ni = c(12, 30, 8, 45)),
  zero_and_full = list(xi = c(0, 20, 0, 15), ni = c(10, 20, 30, 15)),
  identical = list(xi = c(5, 10, 20, 15), ni = c(10, 20, 40, 30)),
  equal_n = list(xi = c(3, 8, 12, 5, 9, 14, 2, 7, 10, 6, 11), ni = rep(40, 11)),
  k1 = list(xi = 7, ni = 23)
)

set.seed(SEED)
random_set <- function(i) {
  kind <- sample(c("random", "random", "random", "zeros", "fulls", "identical", "k2", "k3"), 1)
  k <- switch(kind, k2 = 2L, k3 = 3L, as.integer(round(exp(runif(1, 0, log(60))))))  # log-uniform on 1..60
  ni <- sample(5:500, k, replace = TRUE)
  p0 <- runif(1, 0.02, 0.98)
  xi <- rbinom(k, ni, plogis(qlogis(p0) + rnorm(k, 0, runif(1, 0, 1.5))))
  if (kind == "zeros") xi[sample(k, sample(k, 1))] <- 0
  if (kind == "fulls") { m <- sample(k, sample(k, 1)); xi[m] <- ni[m] }
  if (kind == "identical") {
    base <- sample(2:10, 1); a <- sample(0:base, 1)
    mult <- sample(1:50, k, replace = TRUE)
    ni <- base * mult; xi <- a * mult
  }
  list(name = sprintf("random%03d", i), kind = kind, xi = as.numeric(xi), ni = as.numeric(ni))
}
sets <- c(lapply(names(named), function(nm) c(list(name = nm, kind = "named"), named[[nm]])),
          lapply(seq_len(N_RANDOM), random_set))

# ---- fits -----------------------------------------------------------------------------------------------
fit_rma <- function(es, method) {
  last <- NULL
  for (s in STEPS) {
    ctrl <- c(CTRL, list(stepadj = s))
    r <- tryCatch(suppressWarnings(rma(yi, vi, data = es, method = method, control = ctrl)), error = function(e) e)
    if (!inherits(r, "error")) return(list(res = r, stepadj = s, ctrl = ctrl))
    last <- r
    if (!grepl("Fisher scoring", conditionMessage(r))) break
  }
  list(error = conditionMessage(last))
}

rma_out <- function(f) {
  if (!is.null(f$error)) return(list(error = f$error))
  r <- f$res
  list(stepadj = f$stepadj, estimate = num(r$beta), se = num(r$se), tau2 = num(r$tau2), q = num(r$QE),
       i2 = num(r$I2), h2 = num(r$H2))
}

loo_out <- function(f) {
  if (!is.null(f$error)) return(list(error = paste("model:", f$error)))
  l <- tryCatch(suppressWarnings(leave1out(f$res)), error = err)
  if (!is.null(l$error)) return(l)
  list(estimate = arr(l$estimate), se = arr(l$se), tau2 = arr(l$tau2), q = arr(l$Q))
}

tf_out <- function(f) {
  if (!is.null(f$error)) return(list(error = paste("model:", f$error)))
  t <- tryCatch(suppressWarnings(trimfill(f$res, control = f$ctrl)), error = err)
  if (!is.null(t$error)) return(t)
  list(k0 = num(t$k0), side = t$side, estimate = num(t$beta), se = num(t$se), tau2 = num(t$tau2))
}

glmm_out <- function(xi, ni) {
  warned <- character(0)
  g <- tryCatch(withCallingHandlers(rma.glmm(measure = "PLO", xi = xi, ni = ni, method = "ML", control = GLMER),
                                    warning = function(w) {
                                      warned <<- c(warned, conditionMessage(w))
                                      invokeRestart("muffleWarning")
                                    }), error = err)
  if (!is.null(g$error)) return(g)
  list(estimate = num(g$beta), se = num(g$se), tau2 = num(g$tau2), warnings = I(unique(warned)))
}

out <- list(metafor_version = as.character(packageVersion("metafor")),
            lme4_version = as.character(packageVersion("lme4")), seed = SEED, control = CTRL, stepadj = STEPS,
            datasets = list())
for (d in sets) {
  entry <- list(name = d$name, kind = d$kind, xi = arr(d$xi), ni = arr(d$ni), rma = list(), leave1out = list(),
                trimfill = list())
  fits <- list()
  for (measure in MEASURES) {
    es <- escalc(measure, xi = d$xi, ni = d$ni)
    for (method in METHODS) {
      f <- fit_rma(es, method)
      fits[[paste(measure, method)]] <- f
      entry$rma[[length(entry$rma) + 1]] <- c(list(measure = measure, method = method), rma_out(f))
    }
  }
  for (measure in c("PLO", "PFT"))
    entry$leave1out[[length(entry$leave1out) + 1]] <- c(list(measure = measure, method = "REML"),
                                                        loo_out(fits[[paste(measure, "REML")]]))
  for (measure in c("PLO", "PR")) for (method in c("EE", "DL", "REML", "PM"))
    entry$trimfill[[length(entry$trimfill) + 1]] <- c(list(measure = measure, method = method),
                                                      tf_out(fits[[paste(measure, method)]]))
  base <- fits[["PLO EE"]]$res
  rt <- tryCatch(suppressWarnings(regtest(base, model = "lm")), error = err)
  entry$regtest <- if (!is.null(rt$error)) rt else list(zval = num(rt$zval), pval = num(rt$pval))
  rk <- tryCatch(suppressWarnings(ranktest(base)), error = err)
  entry$ranktest <- if (!is.null(rk$error)) rk else list(tau = num(rk$tau), pval = num(rk$pval))
  entry$glmm <- glmm_out(d$xi, d$ni)
  out$datasets[[length(out$datasets) + 1]] <- entry
}

json <- toJSON(out, auto_unbox = TRUE, digits = I(15), na = "string", null = "null")
writeLines(json, out_path, useBytes = TRUE)
cat("wrote", out_path, "\n")
