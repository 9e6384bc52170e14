"""The work calendar: work days and hours, public holidays and 调休 days, and time arithmetic in
business or calendar time (``model``), stored and edited in ``store``, seeded in ``seed``."""
