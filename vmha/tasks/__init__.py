"""Revertible taskflow tasks of a host recovery, one module per concern.

Every task is idempotent, because a resumed flow may run a task again whose
result was not saved before a crash (taskflow resumes at-least-once).
"""
