"""Voice Live session core: pure asyncio over the azure-ai-voicelive SDK, no Qt."""
