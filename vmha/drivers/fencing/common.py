"""Helpers shared by the fencing drivers: input checks and option parsing.

Every message names the host and the field, never a password.
"""

import ipaddress
import re

from vmha import exception

_HOSTNAME = re.compile(
    r'^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)'
    r'(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$')


def invalid(host, driver, field, problem):
    """An InvalidInput naming the host, the driver and the field.

    ``field`` is a HostSpec field (``bmc_port``), an entry of its options
    (``bmc_options['verify']``) or a configuration option
    (``[redfish] ca_bundle``); it is also given as ``fields``.
    """
    return exception.InvalidInput(
        reason='host %s: fencing driver %s: %s %s' % (
            host.name, driver, field, problem), fields=[field])


def is_host_address(value):
    """True for an IPv4/IPv6 address or a well-formed host name."""
    if not isinstance(value, str) or not value:
        return False
    try:
        ipaddress.ip_address(value.strip('[]'))
        return True
    except ValueError:
        return bool(_HOSTNAME.match(value))


def check_address(host, driver):
    if not is_host_address(host.bmc_address):
        raise invalid(host, driver, 'bmc_address',
                      '%r is neither an IP address nor a host name'
                      % (host.bmc_address,))


def check_port(host, driver):
    port = host.bmc_port
    if port is None:
        return
    if isinstance(port, bool) or not isinstance(port, int) \
            or not 0 < port < 65536:
        raise invalid(host, driver, 'bmc_port',
                      '%r is not a TCP/UDP port number (1-65535)' % (port,))


def check_option_names(host, driver, allowed):
    unknown = sorted(set(host.bmc_options or {}) - set(allowed))
    if unknown:
        raise invalid(host, driver, 'bmc_options',
                      'has unknown key(s) %s (known: %s)' % (
                          ', '.join(unknown),
                          ', '.join(sorted(allowed)) or 'none'))


def short(text, size=300):
    """The last ``size`` characters of a peer's output, on one line."""
    text = ' '.join((text or '').split())
    return text if len(text) <= size else '...' + text[-size:]
