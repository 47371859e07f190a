"""Read models for pages: every query is scoped by organization."""
