"""Real card drivers of the agent: ID cards over PC/SC (My Number card, driver's licence, residence card) and
staff login cards (PC/SC, nfcpy, simulated). Protocols: docs/devices.md, "Card drivers (PC/SC)"."""
