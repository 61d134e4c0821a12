"""The states of vmha's records and the phases of a recovery.

One place for the words the recovery, its tasks, the monitor, the CLI and
the database share, so that none of them imports the database layer for a
constant. The values are stored in the database and shown to operators:
they never change (migrations keep their own frozen copies).

The levels (``quick_evacuate_level``) are in :mod:`vmha.levels`.
"""

# -- a recovery (recoveries.state) --------------------------------------------

PENDING = 'pending'
RUNNING = 'running'
COMPLETED = 'completed'
#: every instance handled, some not brought back (see vmha.evacuation_plan)
COMPLETED_WITH_ERRORS = 'completed_with_errors'
FAILED = 'failed'
FINAL_STATES = (COMPLETED, COMPLETED_WITH_ERRORS, FAILED)
ACTIVE_STATES = (PENDING, RUNNING)

# -- one instance's evacuation (evacuations.status) ---------------------------

EVAC_PENDING = 'pending'
EVAC_IN_PROGRESS = 'evacuating'
EVAC_DONE = 'evacuated'
EVAC_FAILED = 'failed'
EVAC_SKIPPED = 'skipped'
#: Nova found no host with room (NoValidHost): retried later (vmha.capacity)
EVAC_WAITING = 'waiting'
#: left the failed host for a host that failed too, whose recovery takes it
EVAC_HANDED_OVER = 'handed_over'

# -- a host of the inventory (hosts.state) ------------------------------------

#: in service; also what ``vmha-manage host reinstate`` leaves behind
HOST_HEALTHY = 'healthy'
#: a recovery isolates it and evacuates its instances
HOST_RECOVERING = 'recovering'
#: its recovery ended: isolated, instances handled
HOST_EVACUATED = 'evacuated'
#: its recovery failed
HOST_FAILED = 'failed'

# -- the phases of a recovery, in flow order ----------------------------------

#: the recoveries columns that time-stamp each phase (``recovery show``)
PHASES = ('detected_at', 'started_at', 'fenced_at', 'service_down_at',
          'disabled_at', 'instances_listed_at', 'first_evacuation_at',
          'last_confirmed_at', 'finished_at')
