from .tool_enable import Command as EnableCommand


class Command(EnableCommand):
    help = "Disable tools (by exposed name server__tool); endpoints stop seeing them at once."
    enabled = False
