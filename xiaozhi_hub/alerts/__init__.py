"""Alert rules and alerts: conditions the hub watches, incidents, and who was told."""
