"""Unit tests of the recovery tasks, one module per vmha/tasks module."""
