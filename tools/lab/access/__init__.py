"""Access to the lab (tools/lab/lab) for the functional tests and the
benchmark: one importable place for what both need, so that neither
imports the other.

- ``lab``: the ``lab`` command, the lab lock, vmha configuration wired to
  the lab, and what Nova shows after a recovery;
- ``agents``: vmha-agent processes and a monitor thread on the real Redis;
- ``monitors``: vmha-monitor processes wired to the lab;
- ``masakari``: Masakari in the lab, for the comparison;
- ``keys``: the fixed, not secret, credential key every process of a run
  shares.

The pytest fixtures built on these are in tests/functional/conftest.py.
"""
