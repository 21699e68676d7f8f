"""MJ+ text library (not a Django app): check digits, search keys, 和暦, text validation, CSV-safe writing.

Stored names and addresses are never normalised here; only derived search keys are.
"""
