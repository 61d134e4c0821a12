"""Fencing drivers: power a compute host off, on, and read its power state.

Drivers are entry points in the ``vmha.fencing`` namespace. The sequence that
makes fencing safe (read, power off, poll until confirmed off) is shared and
lives in :mod:`vmha.fencing`, not in the drivers.
"""
