"""Availability backed by the database: feeds the pure engine, keeps the
materialized `availability_slots` table true, and serves cached range reads."""
