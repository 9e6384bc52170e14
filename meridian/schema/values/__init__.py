"""Pure checks and normalisers for field values: each returns the stored form or raises.

Every function here takes what a user typed and returns the one canonical value that is
stored, or raises ``meridian.errors.InvalidValue`` with a stable code. They do no IO and run
on every record write, so they are written to cost microseconds.
"""
