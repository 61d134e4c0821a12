"""Watchdog drivers: what vmha-agent arms, pets and disarms on its host.

Drivers are entry points in the ``vmha.watchdog`` namespace; when to pet
(only right after a heartbeat that reached the coordination backend) is
decided by :mod:`vmha.agent`, not by the drivers.
"""
