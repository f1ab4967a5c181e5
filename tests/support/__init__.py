"""Helpers shared by tests: scenario builders, sample records, worlds. No tests here."""
