"""vmha's console scripts.

eventlet (imported by taskflow through oslo.utils, never used by vmha) warns
on import that it is deprecated: ten lines on the stderr of every command,
around the one error line an operator should read. The filter is set here,
before the commands import anything.
"""

import warnings

warnings.filterwarnings('ignore', message=r'\s*Eventlet is deprecated')
