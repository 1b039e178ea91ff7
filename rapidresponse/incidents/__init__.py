"""Incidents: opened by reports, moved through statuses, with an append-only thread."""
