"""The reporting hotline: calls stored first, a pure step machine, recordings kept minimal."""
