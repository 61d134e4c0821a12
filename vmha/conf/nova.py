"""[nova]: how vmha reaches Nova (keystoneauth session, auth and adapter).

The options are registered with keystoneauth's own loading helpers, the way
nova and neutron register theirs, so every auth plugin and TLS setting an
operator knows works here too.
"""

from keystoneauth1 import loading as ks_loading
from oslo_config import cfg

GROUP = cfg.OptGroup(
    'nova',
    title='Nova client options',
    help='Credentials and endpoint vmha uses to drive Nova. The user needs '
         'the admin role (force-down, disable, evacuate, all-tenants '
         'listing).')

SERVICE_TYPE = 'compute'

#: retries of idempotent Nova requests after a connection error (keystoneauth
#: retries none by default; a connection reset must not fail a recovery)
CONNECT_RETRIES = 3

#: seconds one Nova request may wait for a connection or an answer
TIMEOUT = 30.0

#: replaces keystoneauth's [nova] timeout, which waits forever by default
TIMEOUT_OPT = cfg.FloatOpt(
    'timeout',
    default=TIMEOUT,
    min=1.0,
    help='Seconds one request to Nova may take to connect, and then to send '
         'each part of its answer. A nova-api or load balancer that accepts '
         'the connection and then stalls would otherwise block a recovery '
         '(and, with the in-process runner, the whole monitor) forever; '
         'once this passes the request fails with an error naming Nova and '
         'this option. Reads and service updates are then retried '
         '(connect_retries, with connect_retry_delay between tries), so one '
         'such call gives up after at most (connect_retries + 1) x timeout '
         'plus the delays; evacuate, start, stop and reset-state are sent '
         'once. Keep it above the slowest answer your nova-api gives under '
         'load (listing a host\'s servers, a force-down).')

OPTS = [
    cfg.StrOpt(
        'api_version',
        default='auto',
        regex=r'^(auto|2\.\d+)$',
        help='Compute API microversion. "auto" negotiates the highest one '
             'both Nova and python-novaclient support; an explicit value '
             '(e.g. 2.52) pins it, at least 2.11 (force-down).'),
]


def _adapter_opts():
    opts = ks_loading.get_adapter_conf_options(include_deprecated=False)
    cfg.set_defaults(opts, service_type=SERVICE_TYPE,
                     valid_interfaces=['internal', 'public'],
                     connect_retries=CONNECT_RETRIES)
    return opts


def _session_opts():
    """keystoneauth's session options, with vmha's ``timeout``."""
    return [opt for opt in ks_loading.get_session_conf_options()
            if opt.dest != TIMEOUT_OPT.dest] + [TIMEOUT_OPT]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)
    conf.register_opts(_session_opts(), group=GROUP)
    ks_loading.register_auth_conf_options(conf, GROUP.name)
    ks_loading.register_adapter_conf_options(conf, GROUP.name,
                                             include_deprecated=False)
    conf.set_default('service_type', SERVICE_TYPE, group=GROUP.name)
    conf.set_default('valid_interfaces', ['internal', 'public'],
                     group=GROUP.name)
    conf.set_default('connect_retries', CONNECT_RETRIES, group=GROUP.name)


def list_opts():
    return {GROUP: (OPTS
                    + _session_opts()
                    + ks_loading.get_auth_common_conf_options()
                    + ks_loading.get_auth_plugin_conf_options('password')
                    + _adapter_opts())}
