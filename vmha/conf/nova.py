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


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)
    ks_loading.register_session_conf_options(conf, GROUP.name)
    ks_loading.register_auth_conf_options(conf, GROUP.name)
    ks_loading.register_adapter_conf_options(conf, GROUP.name,
                                             include_deprecated=False)
    conf.set_default('service_type', SERVICE_TYPE, group=GROUP.name)
    conf.set_default('valid_interfaces', ['internal', 'public'],
                     group=GROUP.name)
    conf.set_default('connect_retries', CONNECT_RETRIES, group=GROUP.name)


def list_opts():
    return {GROUP: (OPTS
                    + ks_loading.get_session_conf_options()
                    + ks_loading.get_auth_common_conf_options()
                    + ks_loading.get_auth_plugin_conf_options('password')
                    + _adapter_opts())}
