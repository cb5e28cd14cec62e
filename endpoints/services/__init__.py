"""Writes of the endpoint app, one module per concern (HackSoft style: `<entity>_<action>`
with keyword-only arguments). Every configuration write ends with a reload of the
running pool on commit (endpoints/pool_requests/reload.py)."""
