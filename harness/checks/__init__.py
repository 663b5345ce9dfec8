"""Checks: regression checks against a baseline, paired-bootstrap comparisons, and the pytest plugin."""
