"""Deprecated: renamed :mod:`vmha.evacuation_plan`.

"policy" reads as oslo.policy (API access rules) to an OpenStack developer;
the module decides which instances of a failed host are evacuated and in
which state they come back: the evacuation plan. This name stays importable
(the same module object, so patches and attribute reads reach the real one)
until it is removed in a later release.
"""

import sys

from debtcollector import removals

from vmha import evacuation_plan

removals.removed_module(__name__, replacement='vmha.evacuation_plan',
                        stacklevel=4)

sys.modules[__name__] = evacuation_plan
