"""The audio layer: PortAudio through sounddevice, ring buffers, devices. No Qt; no asyncio in callbacks."""
