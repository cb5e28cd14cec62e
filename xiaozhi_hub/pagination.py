"""The REST API's one pagination style (docs/api.md): cursors, `page_size`, and the body
`{"next": <url or null>, "previous": <url or null>, "results": [...]}`.

Cursor pages stay stable while rows are added (no row is skipped or shown twice, as
with page numbers); every app's lists subclass `HubCursorPagination` with their order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from rest_framework.pagination import CursorPagination
from rest_framework.response import Response


class HubCursorPagination(CursorPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


def paginated_response(view, queryset, render: Callable[[object], dict]) -> Response:
    """One page of `queryset` (the view's `pagination_class`), each row through `render`.

    For APIViews that also answer other methods (a GenericAPIView would want a
    serializer_class for those too).
    """
    paginator = view.pagination_class()
    page: Iterable = paginator.paginate_queryset(queryset, view.request, view=view)
    return paginator.get_paginated_response([render(row) for row in page])
