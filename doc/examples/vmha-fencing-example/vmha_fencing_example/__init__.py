"""An example third-party fencing driver for vmha (see doc/fencing.md)."""
