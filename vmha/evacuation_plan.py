"""Which instances of a failed host are evacuated, in which order, and why not.

A pure function of Nova's instance list and the ``[evacuation]`` options, so
that the recovery and its dry run decide exactly alike.

Nova evacuates only instances in vm_state ``active``, ``stopped`` or
``error`` with no task state. The host is isolated (fenced, or forced down)
before anything is evacuated, so whatever state Nova recorded for an
instance there is only a record of what the dead host was doing: vmha resets
such an instance (``os-resetState``, which also clears the task state) and
then evacuates it, as Masakari does. What each instance becomes:

=============================== ====================== ======================
on the failed host              before the evacuation  comes back
=============================== ====================== ======================
active                          --                     active (running)
stopped                         --                     stopped
error                           --                     error (reset after)
paused, suspended, rescued,     reset to ``active``    active (running)
resized (unconfirmed)
active + a stuck task_state     reset to ``active``    active (running)
stopped + a stuck task_state    reset to ``active``    stopped (stopped
                                                       after it lands)
error + a stuck task_state      reset to ``error``     error (reset after)
shelved (not offloaded)         reset to ``active``    stopped
building                        not evacuated: an error of the recovery
soft-deleted, or task_state     skipped: its owner deleted it
deleting / soft-deleting
=============================== ====================== ======================

A running guest in any form comes back running: the memory of a paused or
suspended guest died with the host, and a guest the owner had not shut down
is wanted running. "Stopped" is kept; a shelved instance comes back stopped
(its owner can shelve it again). An instance reset from a stopped state
runs for a moment on its new host below microversion 2.95 before vmha stops
it; from 2.95 Nova leaves it stopped. ``shelved_offloaded`` instances have
no host and are never on a failed host.

Only the operator's policy (not HA-enabled with ``evacuate_all_instances =
false``, ``skip_error_instances``) and deleted instances are *skipped*;
anything else left on the host makes the recovery ``completed_with_errors``.
"""

from oslo_log import log as logging
from oslo_utils import strutils

from vmha import compute
from vmha import exception

LOG = logging.getLogger(__name__)

EVACUATE = 'evacuate'
SKIP = 'skip'
#: neither evacuated nor excluded: the recovery ends with errors
LEAVE = 'leave'

RESIZED = 'resized'
SHELVED = 'shelved'
BUILDING = 'building'
DELETED_VM_STATES = ('soft-delete', 'deleted')
DELETING_TASK_STATES = ('deleting', 'soft-deleting')
#: vm_states reset to active; the value is the state it comes back in
RESET_TO_ACTIVE = {'paused': compute.VM_ACTIVE,
                   'suspended': compute.VM_ACTIVE,
                   'rescued': compute.VM_ACTIVE,
                   RESIZED: compute.VM_ACTIVE,
                   SHELVED: compute.VM_STOPPED}

#: the range of the priority metadata (as RHOSO InstanceHA's HA_Priority)
PRIORITY_MIN = 1
PRIORITY_MAX = 1000

#: first microversion whose evacuate goes through the scheduler with a host
SCHEDULED_TARGET_VERSION = '2.29'


def is_ha_enabled(instance, key):
    """Every boolean spelling counts ('True', 'yes', '1', 'on'), as in
    Masakari; anything else is false."""
    return strutils.bool_from_string(instance.metadata.get(key, False))


def ha_priority(instance, key):
    """The instance's evacuation priority from its ``key`` metadata: an
    integer from 1 to 1000 (higher first), or None. Anything else is
    ignored with a warning: a typo must not stop an evacuation."""
    value = instance.metadata.get(key)
    if value is None:
        return None
    try:
        priority = int(str(value).strip())
    except ValueError:
        priority = None
    if priority is None or not PRIORITY_MIN <= priority <= PRIORITY_MAX:
        LOG.warning('Instance %s: metadata %s=%r is not an integer from %d '
                    'to %d; ignored', instance.id, key, value, PRIORITY_MIN,
                    PRIORITY_MAX)
        return None
    return priority


def _policy_skip(instance, conf, ha_enabled):
    """Why the operator's policy (or the owner's delete) excludes it."""
    if (instance.vm_state in DELETED_VM_STATES
            or instance.task_state in DELETING_TASK_STATES):
        return 'being deleted by its owner (vm_state=%s, task_state=%s)' % (
            instance.vm_state, instance.task_state)
    if instance.vm_state == compute.VM_ERROR and conf.skip_error_instances:
        return 'in ERROR state and [evacuation] skip_error_instances is set'
    if not ha_enabled and not conf.evacuate_all_instances:
        return ('not HA-enabled (metadata %s) and [evacuation] '
                'evacuate_all_instances is false'
                % conf.ha_enabled_metadata_key)
    return None


def reset_target(instance):
    """The state ``os-resetState`` must set before Nova accepts to evacuate
    ``instance`` (None: evacuable as it is); see the module docstring."""
    if instance.vm_state == compute.VM_ERROR:
        return compute.VM_ERROR if instance.task_state else None
    if instance.vm_state in compute.EVACUABLE_VM_STATES:
        return compute.VM_ACTIVE if instance.task_state else None
    if instance.vm_state in RESET_TO_ACTIVE:
        return compute.VM_ACTIVE
    return None


def comes_back(instance):
    """The vm_state the instance is brought back in (None: it is not)."""
    if instance.vm_state in compute.EVACUABLE_VM_STATES:
        return instance.vm_state
    return RESET_TO_ACTIVE.get(instance.vm_state)


def _entry(instance, conf):
    ha = is_ha_enabled(instance, conf.ha_enabled_metadata_key)
    entry = {'id': instance.id, 'name': instance.name,
             'vm_state': instance.vm_state,
             'task_state': instance.task_state, 'ha_enabled': ha,
             'priority': ha_priority(instance, conf.priority_metadata_key),
             'action': EVACUATE, 'reason': None,
             'reset_to': reset_target(instance),
             'restore': comes_back(instance)}
    skip = _policy_skip(instance, conf, ha)
    if skip:
        entry.update(action=SKIP, reason=skip, reset_to=None, restore=None)
    elif entry['restore'] is None:
        why = ('was being built when the host failed: rebuild or delete it'
               if instance.vm_state == BUILDING else
               'vm_state %s cannot be evacuated' % instance.vm_state)
        entry.update(action=LEAVE, reason=why, reset_to=None)
    elif entry['reset_to']:
        entry['reason'] = reset_note(instance, entry['reset_to'],
                                     entry['restore'])
    return entry


def reset_note(instance, reset_to, comes_back):
    """What the evacuation record and the dry run say about a reset."""
    task = (' with task_state %s' % instance.task_state
            if instance.task_state else '')
    return ('reset from vm_state %s%s to %s before evacuation, comes back %s'
            % (instance.vm_state, task, reset_to, comes_back))


def plan(instances, evacuation_conf):
    """Return one plan entry per instance: evacuations first, HA-enabled
    first, then by priority (higher first), then by name.

    Each entry is a JSON-serialisable dict (it is persisted in the flow):
    ``id, name, vm_state, task_state, ha_enabled, priority`` (its
    ``priority_metadata_key``, 1-1000, or None), ``action`` (evacuate, skip
    or leave), ``reason``, ``reset_to`` (the os-resetState target, or None)
    and ``restore`` (the vm_state it comes back in).
    """
    entries = [_entry(inst, evacuation_conf) for inst in instances]
    entries.sort(key=lambda e: (e['action'] != EVACUATE, not e['ha_enabled'],
                                -(e['priority'] or 0), e['name'] or '',
                                e['id']))
    return entries


def target_host(conf, source_host):
    """Target host for evacuations from ``source_host`` (None: scheduler)."""
    if conf.evacuation.target_host_policy == 'fixed':
        return conf.evacuation.target_hosts.get(source_host)
    return None


def check_target_policy(conf, version=None):
    """Refuse a fixed target below microversion 2.29.

    Before 2.29 an evacuate that names a host makes Nova force it there,
    past every scheduler filter (capacity, affinity, aggregates). ``version``
    is the negotiated one; by default the pinned ``[nova] api_version``.
    """
    if conf.evacuation.target_host_policy != 'fixed':
        return
    wanted = version or conf.nova.api_version
    if wanted in (None, 'auto'):
        return
    if compute.api_versions.APIVersion(wanted) < \
            compute.api_versions.APIVersion(SCHEDULED_TARGET_VERSION):
        raise exception.ConfigError(
            reason='[evacuation] target_host_policy = fixed needs compute '
                   'API microversion %s or later (Nova forces the target '
                   'host past the scheduler below it); [nova] api_version '
                   'is %s' % (SCHEDULED_TARGET_VERSION, wanted))
