"""The end-to-end scenarios behind ``driftline demo``."""
