"""Tool results of custom tools, and clipping of the texts they quote."""

from __future__ import annotations

from mcp import types

from xiaozhi_hub.masking import mask_text


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def ok_result(text: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)])


def error_result(text: str) -> types.CallToolResult:
    """An `isError` result; its text is masked (it may quote URLs or answers)."""
    content = [types.TextContent(type="text", text=mask_text(text))]
    return types.CallToolResult(content=content, is_error=True)


def result_text(result: types.CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))
