"""Meridian (子午): a self-hosted, no-code customer lifecycle platform."""

__version__ = "0.1.0"
