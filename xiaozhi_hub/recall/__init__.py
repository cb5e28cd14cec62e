"""The chat history offered back to the assistant as MCP tools (docs/assistant-memory.md).

A composition app (label "recall"): the one place that imports both `endpoints`
and `chathistory`. An endpoint linked to an agent here (`HistoryAccess`) gets the
tools history__recent, history__search and history__session_summary over that
agent's chat history (provider.py, registered into the pool worker's extra-tool
hook in apps.py).
"""
