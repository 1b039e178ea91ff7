"""Broadcasts: one text to many members, in each member's language, sent through the outbox at
BULK priority (models, the audience, planning, cancelling, progress, replies)."""
