"""Process entry points for background work."""
