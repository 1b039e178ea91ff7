"""When the next layer is due (policy.py, pure) and applying it (service.py)."""
