"""The audit log: who did what to which record, and when. Append-only.

`record(session, actor_id, action, now, target=..., target_id=..., count=...)` is the one way in.
An entry holds ids, an action, a count and a time, nothing else: there is no free-text column, so
no phone number, name or message body can ever be written into it. Nothing in the code updates
or deletes an entry; the database refuses it as well (triggers, see models.py), except for the
retention purge, which removes entries older than RETENTION_DAYS like every other record.
"""

from rapidresponse.audit.models import AuditAction, AuditEvent, Target
from rapidresponse.audit.service import CLI, Page, page, purge, record

__all__ = ["CLI", "AuditAction", "AuditEvent", "Page", "Target", "page", "purge", "record"]
