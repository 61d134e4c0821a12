"""Deprecated: renamed :mod:`vmha.reinstate`.

"Recover" means what vmha does to a failed host; returning a repaired host
to service is "reinstate". This name stays importable (the same module
object, so patches and attribute reads reach the real one; ``HostRepair``
and ``RepairReport`` are still there) until it is removed in a later
release.
"""

import sys

from debtcollector import removals

from vmha import reinstate

removals.removed_module(__name__, replacement='vmha.reinstate',
                        stacklevel=4)

sys.modules[__name__] = reinstate
