"""Live updates: the /ws WebSocket endpoint fed by Redis pub/sub (see app/events.py
for the channel names). Events are small; pages refetch the affected partial."""
