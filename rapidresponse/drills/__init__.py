"""Drills: a coordinator's practice run through a real tree (service.py)."""
