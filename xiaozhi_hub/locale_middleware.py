"""The request's language: Django's LocaleMiddleware, except for the REST API.

Pages follow the header's language switch (a cookie), else the browser's
Accept-Language. The REST API (/api/...) and the xiaozhi server's report endpoint
(/xiaozhi/...) answer in English whatever the client's language: their bodies, errors
included, are read by programs, which need them stable.
"""

from __future__ import annotations

from django.conf import settings
from django.middleware.locale import LocaleMiddleware
from django.utils import translation

MACHINE_PREFIXES = ("/api/", "/xiaozhi/")


class HubLocaleMiddleware(LocaleMiddleware):
    def process_request(self, request):
        if request.path_info.startswith(MACHINE_PREFIXES):
            translation.activate(settings.LANGUAGE_CODE)
            request.LANGUAGE_CODE = translation.get_language()
            return
        super().process_request(request)
