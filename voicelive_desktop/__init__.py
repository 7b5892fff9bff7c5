"""Desktop push-to-talk client for Azure AI Voice Live."""

__version__ = "0.1.0"
