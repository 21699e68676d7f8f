"""The counter-PC device agent: a Celery worker on ``terminal.<code>`` with the device drivers.

It runs without Django and makes only outbound connections: to the broker for commands, and to the web API
(signed with the terminal secret) for PDFs and events. It listens on no port.
"""
