"""What each ``quick_evacuate_level`` does, said once.

A level decides how a failed host is isolated before its instances are
rebuilt elsewhere: whether vmha powers it off first, and how Nova comes to
see its nova-compute service down. Every level then disables the service,
lists the host's instances and evacuates them (vmha.flows builds the
taskflow flows; ``builder`` names the function there).

The option's help, ``vmha-manage evacuate --dry-run``, the flows and the
documentation all read this table, so they cannot disagree.

Whatever the level, a host whose power-off cannot be confirmed is never
evacuated.
"""

import dataclasses

from vmha import exception


@dataclasses.dataclass(frozen=True)
class Level:
    #: the value of ``quick_evacuate_level`` (stored with each recovery)
    number: int
    #: a short name for the level
    name: str
    #: one line: what the level does and when to choose it
    summary: str
    #: the steps a recovery at this level takes, as operators read them
    steps: tuple
    #: True when the host is always powered off before its service is
    #: forced down (level 1 fences only when the force-down fails, or when
    #: fewer than two signals said the host stopped)
    fences_first: bool
    #: the function of vmha.flows that builds the isolation flow
    builder: str


_TAIL = ('disable nova-compute', 'list instances', 'evacuate')

FASTEST = Level(
    number=1, name='fastest',
    summary='Fastest: no power-off. Force the nova-compute service down at '
            'once, check Nova reports it down, then evacuate -- only when '
            'two independent signals (agent heartbeat lost, nova-compute '
            'not reporting) said the host stopped. Otherwise, or if the '
            'force-down fails, fence first and then force the service down '
            '(or wait for Nova to mark it down). Only safe when something '
            'else (storage fencing, the failure detector) guarantees the '
            'host no longer writes to its disks.',
    steps=('only if two signals said the host stopped (agent heartbeat '
           'lost, nova-compute not reporting): force-down nova-compute and '
           'check Nova reports it down',
           'otherwise, or if that failed: fence (power off, confirm off), '
           'then force-down (or wait for Nova to report the service down)')
    + _TAIL,
    fences_first=False,
    builder='isolate_force_down_first')

FASTER = Level(
    number=2, name='faster',
    summary='Faster (default): power the host off through its BMC and '
            'confirm it is off, then force the service down, then evacuate.',
    steps=('fence (power off, confirm off)', 'force-down nova-compute')
    + _TAIL,
    fences_first=True,
    builder='isolate_fence_then_force_down')

SAFE = Level(
    number=3, name='safe',
    summary='Quick evacuation off: power the host off, then wait until Nova '
            'itself marks the service down (service_down_time), then '
            'evacuate.',
    steps=('fence (power off, confirm off)',
           'wait for Nova to report nova-compute down (heartbeat loss)')
    + _TAIL,
    fences_first=True,
    builder='isolate_fence_then_wait')

#: every level, by number
LEVELS = {level.number: level for level in (FASTEST, FASTER, SAFE)}
NUMBERS = tuple(LEVELS)
DEFAULT = FASTER


def get(number):
    """The :class:`Level` numbered ``number``; ConfigError for any other."""
    try:
        return LEVELS[number]
    except (KeyError, TypeError):
        raise exception.ConfigError(
            reason='quick_evacuate_level must be one of %s (got %r)'
            % (', '.join(str(n) for n in NUMBERS), number)) from None
