"""Notifications: the in-app inbox, and the email and group-bot deliveries it enqueues."""
