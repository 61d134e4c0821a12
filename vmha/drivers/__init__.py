"""Pluggable drivers, loaded by stevedore from entry points."""
