"""Custom tools: tools defined in the hub itself (xiaozhi-client's `customMCP.tools`).

Pure asyncio, no Django. The manager (../manager.py) offers them to every
endpoint under their own name and calls `CustomToolRunner`, which checks the
arguments against the tool's inputSchema and hands the call to the module of
its kind: http_handler (a URL), coze (a Coze workflow or bot), chain (several
tools), script (a command on the worker); an `mcp` alias is routed by the
manager itself to the server's tool it wraps.

Nothing is imported here: Django (selectors, services) reads config.py without
loading the runtime's HTTP and subprocess code.
"""
