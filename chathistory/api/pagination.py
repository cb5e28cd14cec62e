from rest_framework.pagination import CursorPagination


class MessageCursorPagination(CursorPagination):
    """Newest first, on (created_at, id): stable while new messages keep arriving."""

    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class SessionCursorPagination(CursorPagination):
    ordering = ("-id",)
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class DeviceCursorPagination(CursorPagination):
    ordering = ("mac",)
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500
