"""RQ jobs: thin functions that take ids, build nothing at import, and are safe to run twice."""
