"""MJ+ text library (not a Django app): check digits, search keys (kana, 異体字), 和暦, the MJ repertoire, text
validation, CSV-safe writing.

Stored names and addresses are never normalised here; only derived search keys are.
"""
