from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "xiaozhi_hub.access"
    label = "access"
    verbose_name = "Access control"
