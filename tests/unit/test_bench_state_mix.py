"""The state-mix table of the Masakari comparison (tools/bench/state_mix.py).

A tool whose run failed used to be stored as {'error': why}, and the mix
has an instance in state "error": its row took the message for an outcome
and rendering the comparison crashed after 35 minutes of measurements.
"""

from tools.bench import compare
from tools.bench import state_mix


def outcome(host='hostB', vm_state='active'):
    return {'id': 'x', 'host': host, 'vm_state': vm_state,
            'task_state': None, 'evacuations': 1, 'recovered': True}


def test_a_failed_run_has_no_outcome_in_any_row_and_says_why():
    found = {
        compare.VMHA: state_mix.failed(RuntimeError('no key file')),
        compare.MASAKARI: dict({s: outcome() for s in state_mix.STATES},
                               recovery='finished'),
    }
    mix = state_mix.table(found)
    assert [row[compare.VMHA] for row in mix['rows']] == \
        [None] * len(state_mix.STATES)
    assert 'error' in state_mix.STATES
    assert mix['recovery'] == {
        compare.VMHA: 'run failed: RuntimeError: no key file',
        compare.MASAKARI: 'finished'}
    text = compare.mix_table(mix)
    assert text.count('not run') == len(state_mix.STATES)
    assert '| error | not run | active on hostB, recovered |' in text


def test_outcomes_of_both_tools_are_shown_by_state():
    found = {tool: dict({s: outcome(vm_state=s if s in ('stopped', 'error')
                                    else 'active')
                         for s in state_mix.STATES}, recovery='done')
             for tool in (compare.VMHA, compare.MASAKARI)}
    text = compare.mix_table(state_mix.table(found))
    assert '| error | error on hostB, recovered | error on hostB, ' \
        'recovered |' in text
