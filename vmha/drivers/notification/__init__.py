"""Notification drivers: tell people and tools what vmha saw and did.

Drivers are entry points in the ``vmha.notification`` namespace; several are
active at once (``[notification] drivers``). They are called by
:class:`vmha.notifier.Dispatcher`, never directly by the recovery.
"""
