"""Reads of the endpoint app, one module per concern; they return plain dicts (camelCase
keys, as REST and the console send them) with every secret masked."""
