"""External calendars: pure busy rules (busy.py), source adapters per kind
(caldav_sync.py, ics_feed.py, webhooks.py), the busy-time store (store.py),
write-back (writeback.py), health and scheduling (health.py, jobs.py), the
private feed export (feed_export.py) and e-mail invites (ics.py).
See docs/calendars.md."""
