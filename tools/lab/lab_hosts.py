"""How many compute hosts the lab runs: their names, BMC ports, the shape.

The default lab is three hosts, hostA-hostC, and every functional test
assumes exactly those. ``lab up --hosts N`` (or ``VMHA_LAB_HOSTS=N``) grows
it to hostA... hostN's letter, each extra host one nova-compute plus one
ipmi_sim BMC on the next UDP port, wired like the first three; ``lab up
--hosts 3`` shrinks it back. The count in force is stored under the lab
dir, so a plain ``lab up`` (tools/run-tests.sh runs one) never changes the
shape another user chose.

A lab with more than three hosts is not the shape the tests expect: whoever
grows it must hold the lab lock until it is back to three. ``lab up``
refuses to grow it when nobody holds that lock.

Only the standard library: this runs before the lab's venvs exist.
"""

import fcntl
import os
import string

from lab_common import BMC_PORTS
from lab_common import HOSTS
from lab_common import LabError

DEFAULT_COUNT = len(HOSTS)
MAX_COUNT = len(string.ascii_uppercase)      # hostA ... hostZ
FIRST_BMC_PORT = BMC_PORTS[HOSTS[0]]
LAB_LOCK = '/tmp/vmha-lab.lock'
ENV = 'VMHA_LAB_HOSTS'
COUNT_FILE = 'hosts'


def names(count):
    """The first ``count`` host names: hostA, hostB, ..."""
    return tuple('host' + letter
                 for letter in string.ascii_uppercase[:check_count(count)])


def index(host):
    """0 for hostA, 1 for hostB...; LabError for a name the lab never
    uses."""
    letter = host[4:] if host.startswith('host') else ''
    if len(letter) != 1 or letter not in string.ascii_uppercase:
        raise LabError('%s is not a lab host name (hostA ... hostZ)' % host)
    return string.ascii_uppercase.index(letter)


def bmc_port(host):
    """The UDP port of ``host``'s BMC: hostA's first, then one each."""
    return FIRST_BMC_PORT + index(host)


def bmc_guid(host):
    """The BMC's IPMI GUID (32 hex digits), distinct per host."""
    return '%032x' % (0xa1234567 + index(host))


def check_count(count):
    if not DEFAULT_COUNT <= count <= MAX_COUNT:
        raise LabError('the lab runs %d to %d hosts, not %d'
                       % (DEFAULT_COUNT, MAX_COUNT, count))
    return count


def parse_count(text, source='--hosts'):
    """A host count from the command line or the environment."""
    try:
        return check_count(int(text))
    except ValueError:
        raise LabError('%s: %r is not a number of hosts' % (source, text))


def _count_file(layout):
    return os.path.join(layout.root, COUNT_FILE)


def stored_count(layout):
    """The host count the lab was last brought up with (default 3)."""
    try:
        with open(_count_file(layout)) as f:
            return parse_count(f.read().strip(), _count_file(layout))
    except FileNotFoundError:
        return DEFAULT_COUNT


def store_count(layout, count):
    os.makedirs(layout.root, exist_ok=True)
    with open(_count_file(layout), 'w') as f:
        f.write('%d\n' % check_count(count))


def current(layout):
    """The names of the hosts the lab runs now."""
    return names(stored_count(layout))


def wanted_count(layout, option=None, environ=None):
    """The count ``lab up`` brings the lab to: ``--hosts``, else
    $VMHA_LAB_HOSTS, else the stored one (so a plain ``lab up`` keeps the
    shape)."""
    environ = os.environ if environ is None else environ
    if option is not None:
        return parse_count(str(option))
    if environ.get(ENV):
        return parse_count(environ[ENV], ENV)
    return stored_count(layout)


def lock_held(path=LAB_LOCK):
    """True when some process holds the lab lock (flock(2)).

    Asked by trying to take it without waiting: a lock held by the caller
    (``flock LAB_LOCK lab up --hosts 6``) or any other process refuses us.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)      # closing drops a lock we took
    return False


def check_may_grow(count, path=LAB_LOCK):
    """LabError unless growing past three hosts happens under the lock."""
    if count > DEFAULT_COUNT and not lock_held(path):
        raise LabError(
            'a lab with more than %d hosts must be run under the lab lock, '
            'and shrunk back before it is released: flock %s sh -c '
            '"lab up --hosts %d; ...; lab up --hosts %d"'
            % (DEFAULT_COUNT, path, count, DEFAULT_COUNT))
