"""Configuration options of vmha, one module per option group.

Laid out like nova/conf. ``CONF`` is the process-wide ConfigOpts used by the
console scripts. The library itself accepts any ConfigOpts on which
:func:`register_opts` was called, so that a host service can embed vmha
with its own configuration object.
"""

from oslo_config import cfg

from vmha.conf import opts

CONF = cfg.CONF


def register_opts(conf):
    """Register every vmha option group on ``conf`` (idempotent)."""
    for module in opts.MODULES:
        group = getattr(module, 'GROUP', None)
        if group is not None:
            # A group object of this conf's own: oslo.config keeps per-option
            # state (overrides, defaults) in the registered OptGroup and only
            # shallow-copies it, so sharing the module's GROUP between two
            # ConfigOpts would leak set_override/set_default between them.
            # The module's own register_group(GROUP) is then a no-op.
            conf.register_group(cfg.OptGroup(
                group.name, title=group.title, help=group.help,
                dynamic_group_owner=group.dynamic_group_owner,
                driver_option=group.driver_option))
        module.register_opts(conf)


register_opts(CONF)
