"""Debriefs: asking those who said YES how it went, a day after an incident closes (service.py)."""
