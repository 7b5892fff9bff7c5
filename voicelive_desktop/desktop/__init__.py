"""Desktop integration: a global hold key, a single running instance, the app menu entry and autostart.

Each platform backend sits behind one small interface so the app can be wired without knowing which desktop
it runs on. Only ``single_instance.py`` imports Qt (QtCore; QtNetwork on Windows) and ``desktop_entry.py``
renders icons with Qt when it is there; the hold-key modules are Qt-free so their threads never touch a Qt
object.
"""
