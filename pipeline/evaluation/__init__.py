"""Scoring a trained model: metrics and their standard errors, baselines, the fit's diagnosis,
plots, the report page, and k-fold cross-validation."""
