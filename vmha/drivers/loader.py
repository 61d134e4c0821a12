"""Load drivers by entry point name, with errors an operator can act on.

A driver's name is its entry point's name, given once in ``setup.cfg`` (or
a third-party package's metadata): :func:`load` tells the instance its name
and :func:`name_of` finds it for a driver built without the loader.
:func:`get` keeps one instance per driver and ConfigOpts, as ironic keeps its
hardware types: a driver's caches (BMC sessions) are its own state, shared by
every recovery of the process.
"""

import functools
import importlib.metadata
import threading

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

#: attribute of a ConfigOpts holding the drivers get() loaded for it: the
#: instances live and die with their configuration
_LOADED = '_vmha_loaded_drivers'
_LOCK = threading.Lock()
#: the drivers get() loaded since the last close_shared (kept alive until
#: closed: a dropped driver's IPMI sessions would stay logged in)
_SHARED = []


def available(namespace):
    """Names of the drivers installed in ``namespace``, sorted."""
    return sorted(ext.name for ext in
                  stevedore.ExtensionManager(namespace, invoke_on_load=False))


def installed(namespace):
    """Names of the entry points in ``namespace``, sorted, without importing
    any driver (cheap enough for the start-up checks)."""
    return sorted({ep.name for ep in
                   importlib.metadata.entry_points(group=namespace)})


def classes(namespace):
    """{name: class} of the drivers installed in ``namespace``.

    Nothing is instantiated (no configuration is needed: ``--help``, the
    sample configuration); a driver that fails to import is left out, and
    :func:`load` reports it when it is used.
    """
    manager = stevedore.ExtensionManager(namespace, invoke_on_load=False)
    return {ext.name: ext.plugin for ext in manager}


def load(namespace, name, *args, **kwargs):
    """Load and instantiate driver ``name`` with ``args`` and ``kwargs``.

    Raises DriverNotFound (listing the installed names) or DriverLoadError,
    never stevedore's own exceptions. The instance's ``entry_point_name``
    is ``name``.
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
    driver = manager.driver
    driver.entry_point_name = name
    return driver


def get(namespace, name, conf):
    """The one instance of driver ``name`` for ``conf``, loaded on first
    use (:func:`load` with ``conf`` as its argument).

    Drivers are shared by every caller with the same ConfigOpts (a process
    has one), so they must be thread-safe; they go away with ``conf``.
    """
    with _LOCK:
        loaded = conf.__dict__.setdefault(_LOADED, {})
        key = (namespace, name)
        if key not in loaded:
            loaded[key] = load(namespace, name, conf)
            _SHARED.append(loaded[key])
        return loaded[key]


def close_shared():
    """Close every driver :func:`get` handed out in this process since
    the last call (they stay usable: a closed driver opens its sessions
    again on its next call). For a process that drops a ConfigOpts and
    builds another (a test run): the IPMI sessions of the dropped
    configuration's drivers would stay logged in, and pyghmi would hand
    the next driver for the same BMC a session the BMC may have dropped
    meanwhile."""
    with _LOCK:
        drivers = list(_SHARED)
        del _SHARED[:]
    for driver in drivers:
        close = getattr(driver, 'close', None)
        if close is not None:
            close()


@functools.lru_cache(maxsize=None)
def _class_names(namespace):
    """{``module:Class``: entry point name} of ``namespace``."""
    return {ep.value.replace(' ', ''): ep.name for ep in
            importlib.metadata.entry_points(group=namespace)}


def name_of(driver, namespace):
    """``driver``'s name: the one :func:`load` gave it, else the name of the
    entry point of its class in ``namespace``, else the class's
    ``entry_point_name`` or name (a test double)."""
    given = getattr(driver, 'entry_point_name', None)
    if given and 'entry_point_name' in vars(driver):
        return given
    cls = type(driver)
    found = _class_names(namespace).get(
        '%s:%s' % (cls.__module__, cls.__qualname__))
    return found or given or cls.__name__
