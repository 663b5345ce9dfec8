"""Built-in encoder plugins (baselines); the native cpt models live in ``harness.encoders``."""
