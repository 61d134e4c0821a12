"""Which instances of a failed host are evacuated, in which order, and why not.

A pure function of Nova's instance list and the ``[evacuation]`` options, so
that the recovery and its dry run decide exactly alike.
"""

from vmha import compute

EVACUATE = 'evacuate'
SKIP = 'skip'


def is_ha_enabled(instance, key):
    return str(instance.metadata.get(key, '')).strip().lower() == 'true'


def _skip_reason(instance, conf, ha_enabled):
    if instance.task_state:
        return 'task in progress (task_state=%s)' % instance.task_state
    if instance.vm_state not in compute.EVACUABLE_VM_STATES:
        return 'vm_state %s cannot be evacuated' % instance.vm_state
    if instance.vm_state == compute.VM_ERROR and conf.skip_error_instances:
        return 'in ERROR state and [evacuation] skip_error_instances is set'
    if not ha_enabled and not conf.evacuate_all_instances:
        return ('not HA-enabled (metadata %s) and [evacuation] '
                'evacuate_all_instances is false'
                % conf.ha_enabled_metadata_key)
    return None


def plan(instances, evacuation_conf):
    """Return one plan entry per instance: evacuations first, HA-enabled first.

    Each entry is a JSON-serialisable dict (it is persisted in the flow):
    ``id, name, vm_state, ha_enabled, action, reason``.
    """
    entries = []
    for inst in instances:
        ha = is_ha_enabled(inst, evacuation_conf.ha_enabled_metadata_key)
        reason = _skip_reason(inst, evacuation_conf, ha)
        entries.append({'id': inst.id, 'name': inst.name,
                        'vm_state': inst.vm_state, 'ha_enabled': ha,
                        'action': SKIP if reason else EVACUATE,
                        'reason': reason})
    entries.sort(key=lambda e: (e['action'] != EVACUATE, not e['ha_enabled'],
                                e['name'] or '', e['id']))
    return entries


def target_host(conf, source_host):
    """Target host for evacuations from ``source_host`` (None: scheduler)."""
    if conf.evacuation.target_host_policy == 'fixed':
        return conf.evacuation.target_hosts.get(source_host)
    return None
