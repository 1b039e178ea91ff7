"""The coordinators' web console: incidents, their threads, and decisions."""
