"""The ``linux`` watchdog driver: a Linux watchdog device (/dev/watchdog).

The kernel's watchdog API (Documentation/watchdog/watchdog-api.rst): opening
the device starts the watchdog; ``WDIOC_SETTIMEOUT`` sets its timeout and
``WDIOC_GETTIMEOUT`` reads back the one the hardware took; any write pets it
(so does ``WDIOC_KEEPALIVE``); writing ``V`` before closing (the *magic
close*) stops it. A process that exits without the magic close -- a crash,
SIGKILL -- leaves the watchdog running, and the host resets.

A device whose driver was loaded with ``nowayout=1`` (or a kernel built with
CONFIG_WATCHDOG_NOWAYOUT) ignores the magic close: a planned stop of the
agent would then reset the host. Where sysfs says so, arming is refused.

Tests point ``[watchdog] device`` at a regular file: a file is not a
character device, so the ioctls are skipped (and logged) and only the
writes happen; this is decided once, when the file is opened, and never by
catching an ioctl error (an ioctl that fails on a real device is an error).
"""

import os
import stat
import struct

from oslo_log import log as logging

from vmha.drivers.watchdog import base

LOG = logging.getLogger(__name__)

# <linux/ioctl.h> and <linux/watchdog.h>
_IOC_WRITE = 1
_IOC_READ = 2
_INT = struct.calcsize('i')


def _ioc(direction, number):
    """_IOC(direction, 'W', number, sizeof(int))."""
    return (direction << 30) | (_INT << 16) | (ord('W') << 8) | number


WDIOC_KEEPALIVE = _ioc(_IOC_READ, 5)
WDIOC_SETTIMEOUT = _ioc(_IOC_READ | _IOC_WRITE, 6)
WDIOC_GETTIMEOUT = _ioc(_IOC_READ, 7)
MAGIC_CLOSE = b'V'
#: what a pet writes: anything but "V" (which would allow a release)
PET = b'\0'


def nowayout(rdev):
    """True/False from the device's sysfs ``nowayout``, None if unknown."""
    path = '/sys/dev/char/%d:%d/nowayout' % (os.major(rdev), os.minor(rdev))
    try:
        with open(path) as f:
            return f.read().strip() == '1'
    except OSError:
        return None


class LinuxWatchdog(base.WatchdogDriver):

    def __init__(self, conf, ioctl=None):
        super().__init__(conf)
        self.device = conf.watchdog.device
        self._fd = None
        #: False when the device is a stand-in file (ioctls skipped)
        self.is_device = None
        if ioctl is None:
            import fcntl
            ioctl = fcntl.ioctl
        self._ioctl = ioctl

    def get_properties(self):
        return {'device': 'the watchdog device, e.g. /dev/watchdog0',
                'timeout': 'set with WDIOC_SETTIMEOUT, read back with '
                           'WDIOC_GETTIMEOUT'}

    def validate(self):
        if not os.path.exists(self.device):
            raise self.error('no such device (load softdog, iTCO_wdt or '
                             'your board\'s watchdog driver)')

    def arm(self, timeout):
        try:
            self._fd = os.open(self.device, os.O_WRONLY | os.O_CLOEXEC)
        except OSError as err:
            raise self.error('cannot open it: %s (another watchdog daemon, '
                             'or systemd\'s RuntimeWatchdogSec, may hold it)'
                             % err) from err
        info = os.fstat(self._fd)
        self.is_device = stat.S_ISCHR(info.st_mode)
        try:
            if self.is_device:
                self.timeout = self._set_timeout(info.st_rdev, timeout)
            else:
                LOG.warning('Watchdog %s is not a character device: a '
                            'stand-in file (tests); ioctls skipped, only '
                            'pets are written', self.device)
                self.timeout = timeout
            self.pet()
        except Exception:
            # opening it started it: stop it again, or the host resets
            self.disarm()
            raise
        return self.timeout

    def _set_timeout(self, rdev, timeout):
        """WDIOC_SETTIMEOUT then WDIOC_GETTIMEOUT: the timeout in force."""
        if nowayout(rdev):
            raise self.error('its driver has nowayout=1: a planned stop of '
                             'vmha-agent would reset the host; load it '
                             'with nowayout=0')
        try:
            self._ioctl(self._fd, WDIOC_SETTIMEOUT, struct.pack('i', timeout))
            took = struct.unpack('i', self._ioctl(
                self._fd, WDIOC_GETTIMEOUT, struct.pack('i', 0)))[0]
        except OSError as err:
            raise self.error('setting the timeout failed: %s' % err) from err
        if took != timeout:
            LOG.warning('Watchdog %s took a timeout of %ds instead of %ds',
                        self.device, took, timeout)
        return took

    def pet(self):
        if self._fd is None:
            return
        try:
            os.write(self._fd, PET)
        except OSError as err:
            raise self.error('pet failed: %s' % err) from err

    def disarm(self):
        if self._fd is None:
            return
        try:
            os.write(self._fd, MAGIC_CLOSE)
        except OSError as err:
            LOG.error('Watchdog %s: magic close failed (%s): the host will '
                      'reset', self.device, err)
        finally:
            self._release()

    def _release(self):
        """Close the device (after a magic close: disarmed)."""
        fd, self._fd = self._fd, None
        self.timeout = None
        if fd is not None:
            os.close(fd)
