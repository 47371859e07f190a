"""Calendar formats and external calendars (ICS now; Google and CalDAV sync later)."""
