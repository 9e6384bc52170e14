"""Documents: print templates (HTML and Word) filled from a record, numbered, stored on the
record, optionally sealed and signed (PAdES)."""
