from django.apps import AppConfig


class ChatHistoryConfig(AppConfig):
    name = "chathistory"
    verbose_name = "Chat history"
