"""tools.bench.compare: vmha against Masakari, from each tool's records."""

from tools.bench import compare

T0 = 1000.0


def _records(completed=True, status='finished'):
    """Masakari's records of a 2-server recovery (epoch seconds)."""
    evacuate = [{'message': 'Start evacuation of instances', 'at': T0 + 242},
                {'message': 'Evacuation of instance started: a',
                 'at': T0 + 242.1}]
    if completed:
        evacuate.append({'message': 'Evacuation process completed!',
                         'at': T0 + 257.5})
    return {
        'status': status, 'created_at': T0 + 3.0,
        'progress': [
            {'name': 'DisableComputeServiceTask', 'state': 'SUCCESS',
             'details': [
                 {'message': "Disabling compute service on host: 'hostA'",
                  'at': T0 + 3.2},
                 {'message': "Disabled compute service on host: 'hostA'",
                  'at': T0 + 241.7}]},
            {'name': 'EvacuateInstancesTask', 'state': 'SUCCESS',
             'details': evacuate}],
        'vmoves': [
            {'instance_uuid': 'a', 'status': 'succeeded', 'start': T0 + 243,
             'end': T0 + 256},
            {'instance_uuid': 'b', 'status': 'succeeded', 'start': T0 + 244,
             'end': T0 + 257}],
    }


def test_masakari_figures_count_from_the_power_off():
    figures = compare.masakari_figures({'powered_off_at': T0}, _records())
    assert figures == {
        'declared': 3.2, 'first_evacuation': 243.0, 'last_active': 257.5,
        'declared_to_first': 239.8, 'declared_to_last': 254.3,
        'disable_task': 238.5}


def test_masakari_declared_falls_back_to_the_notification():
    recs = _records()
    recs['progress'] = recs['progress'][1:]
    figures = compare.masakari_figures({'powered_off_at': T0}, recs)
    assert figures['declared'] == 3.0 and figures['disable_task'] is None


def test_masakari_last_active_falls_back_to_the_last_succeeded_vmove():
    recs = _records(completed=False)
    recs['vmoves'][1]['status'] = 'failed'
    figures = compare.masakari_figures({'powered_off_at': T0}, recs)
    assert figures['last_active'] == 256.0


def test_masakari_without_vmoves_has_no_evacuation_figures():
    recs = _records(completed=False)
    recs['vmoves'] = []
    figures = compare.masakari_figures({'powered_off_at': T0}, recs)
    assert figures['first_evacuation'] is None
    assert figures['last_active'] is None


def test_vmha_figures_from_its_recorded_phases():
    marks = {'started_at': 3.5, 'first_evacuation_at': 4.0,
             'last_confirmed_at': 11.0}
    assert compare.vmha_figures({'marks': marks}) == {
        'declared': 3.5, 'first_evacuation': 4.0, 'last_active': 11.0,
        'declared_to_first': 0.5, 'declared_to_last': 7.5}


def test_evacuate_actions_summary():
    assert compare.evacuate_actions({'a': 1, 'b': 1}) == '1 each'
    assert compare.evacuate_actions({'a': 0, 'b': 2}) == '0-2'
    assert compare.evacuate_actions({}) == 'unknown'


def _row(label, count, last, ok=True):
    tool = compare.MASAKARI if label.startswith('Masakari') else 'x'
    return compare.row(label, tool, count, [{
        'ok': ok, 'error': None if ok else 'boom',
        'figures': {'last_active': last}, 'evacuate_actions': '1 each',
        'recovered': count if ok else 0}])


def test_target_met_not_met_and_not_measured():
    rows = [_row('vmha level 2', 10, 11.0), _row('Masakari default', 10,
                                                 300.0)]
    found = compare.target(rows)
    assert found['met'] is True and '27.3x' in found['measured']
    rows = [_row('vmha level 2', 10, 40.0), _row('Masakari default', 10,
                                                 300.0)]
    assert compare.target(rows)['met'] is False
    rows = [_row('vmha level 2', 10, 11.0),
            _row('Masakari default', 10, None, ok=False)]
    assert compare.target(rows) == {
        'target': compare.target(rows)['target'], 'met': None,
        'measured': 'not measured'}


def test_ratios_and_table():
    rows = [_row('vmha level 2', 10, 11.0), _row('Masakari default', 10,
                                                 300.0),
            _row('Masakari tuned', 10, None, ok=False)]
    ratios = compare.ratios(rows)
    assert ratios == {10: 0.04}
    text = compare.table(rows, ratios)
    assert '| Masakari tuned | 10 | 0 of 1 ok |' in text
    assert '**0.04**' in text


def test_mix_table_names_what_was_not_recovered():
    mix = {'rows': [
        {'state': 'paused',
         compare.VMHA: {'vm_state': 'active', 'host': 'hostB',
                        'recovered': True, 'evacuations': 1},
         compare.MASAKARI: {'vm_state': 'stopped', 'host': 'hostA',
                            'recovered': False, 'evacuations': 0}}]}
    text = compare.mix_table(mix)
    assert ('| paused | active on hostB, recovered | stopped on hostA, '
            '**not recovered** (0 evacuations) |') in text
    assert compare.mix_note(mix) == ('Masakari brought back stopped (not '
                                     'running) the server(s) that were '
                                     'paused.')


def test_readme_section_is_inserted_after_the_benchmark_section(tmp_path):
    from tools.bench import compare_masakari
    rows = [_row('vmha level 2', 10, 11.0), _row('Masakari default', 10,
                                                 300.0)]
    rows[1]['figures']['disable_task'] = 240.0
    summary = {
        'rows': rows, 'ratios': compare.ratios(rows),
        'target': compare.target(rows), 'mix': None, 'sizes': [10],
        'minutes': 12.0, 'lock_wait_minutes': 0.5, 'cpu': [],
        'masakari': {'version': '22.0.0', 'options': {
            'DEFAULT.wait_period_after_service_update': {
                'value': 180, 'default': 180}},
            'tuned': {'wait_period_after_service_update': {
                'value': 18, 'why': 'Nova needs service_down_time'}}}}
    readme = tmp_path / 'README.md'
    readme.write_text('# x\n<!-- bench:start -->\nold\n<!-- bench:end -->\n'
                      'tail\n')
    for _ in range(2):     # the second run replaces the first one's section
        compare_masakari.write(summary, tmp_path / 'doc', readme,
                               '2026-12-03 01:00 UTC', 'tox -e bench')
    text = readme.read_text()
    assert text.count(compare_masakari.START) == 1
    assert text.index('<!-- bench:end -->') < text.index(
        compare_masakari.START) < text.index('tail')
    assert '`wait_period_after_service_update` 180' in text
    assert '240.0 s (Masakari default, N=10)' in text
    assert '| vmha level 2 recovers N=10 >= 10x faster' in text
