"""Evaluation: metrics (numpy), predictions of every model on the test split, plots."""
