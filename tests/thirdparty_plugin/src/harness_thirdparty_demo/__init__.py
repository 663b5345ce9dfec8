"""A demo third-party plugin for cpt-harness."""
