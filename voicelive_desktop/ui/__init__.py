"""The PySide6 user interface: widgets render state and emit intents; bridge.py connects them to the app."""
