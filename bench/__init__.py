"""Scripts that print figures (see README.md)."""
