from xiaozhi_hub.pagination import HubCursorPagination


class MessageCursorPagination(HubCursorPagination):
    """Newest first, on (created_at, id): stable while new messages keep arriving."""

    ordering = ("-created_at", "-id")


class SessionCursorPagination(HubCursorPagination):
    ordering = ("-id",)


class DeviceCursorPagination(HubCursorPagination):
    ordering = ("mac",)
    page_size = 100
