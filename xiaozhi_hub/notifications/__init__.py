"""Notification channels: where the hub tells operators that something happened."""
