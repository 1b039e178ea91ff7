"""Members: the registry, numbers, opt-in and opt-out, roles, zones and tree memberships."""
