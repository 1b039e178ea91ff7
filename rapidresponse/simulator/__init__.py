"""The /simulator page: text the system as any number and see every reply (simulator provider only)."""
