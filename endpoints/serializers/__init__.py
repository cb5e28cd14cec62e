"""REST input validation, one module per domain. Output is built by the selectors
(secrets always masked)."""
