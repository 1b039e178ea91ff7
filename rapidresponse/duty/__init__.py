"""Keeping the network alive: pause, duty windows, fair rotation and load (pure rules + service)."""
