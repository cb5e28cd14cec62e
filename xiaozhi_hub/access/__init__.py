"""Who may do what: the hub's roles, the permission checks every surface shares,
and the audit trail of changes made outside the admin."""
