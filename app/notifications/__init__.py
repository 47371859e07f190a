"""Notifications: booking events become messages (email with calendar invites, SMS),
stored once per (booking, event, channel, recipient) and sent by the worker."""
