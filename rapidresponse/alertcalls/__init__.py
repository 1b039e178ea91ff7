"""Alert calls: an alert spoken to a member on voice, answered by one key (see keypad.py)."""
