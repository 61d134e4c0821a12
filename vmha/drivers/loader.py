"""Load drivers by entry point name, with errors an operator can act on."""

import stevedore
from stevedore import exception as stevedore_exc

from vmha import exception

FENCING_NAMESPACE = 'vmha.fencing'
NOTIFICATION_NAMESPACE = 'vmha.notification'
DETECTION_NAMESPACE = 'vmha.detection'
WATCHDOG_NAMESPACE = 'vmha.watchdog'
KINDS = {FENCING_NAMESPACE: 'fencing', NOTIFICATION_NAMESPACE: 'notification',
         DETECTION_NAMESPACE: 'detection source',
         WATCHDOG_NAMESPACE: 'watchdog'}


def available(namespace):
    """Names of the drivers installed in ``namespace``, sorted."""
    return sorted(ext.name for ext in
                  stevedore.ExtensionManager(namespace, invoke_on_load=False))


def load(namespace, name, *args, **kwargs):
    """Load and instantiate driver ``name`` with ``args`` and ``kwargs``.

    Raises DriverNotFound (listing the installed names) or DriverLoadError,
    never stevedore's own exceptions.
    """
    kind = KINDS.get(namespace, namespace)

    def _failed(manager, entrypoint, err):
        raise exception.DriverLoadError(kind=kind, name=name, reason=err)

    try:
        manager = stevedore.DriverManager(
            namespace, name, invoke_on_load=True, invoke_args=args,
            invoke_kwds=kwargs, on_load_failure_callback=_failed)
    except stevedore_exc.NoMatches:
        raise exception.DriverNotFound(
            kind=kind, name=name, namespace=namespace,
            available=', '.join(available(namespace)) or 'none')
    return manager.driver
