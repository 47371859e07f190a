"""Clinic configuration use cases: locations, rooms, providers, types, rules, time off."""
