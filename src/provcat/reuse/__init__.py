"""Reused-photo detection: local features, a candidate index, geometric verification."""
