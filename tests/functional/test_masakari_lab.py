"""Masakari in the lab works: a notification leads to a real evacuation.

The benchmark compares vmha with Masakari on this lab (``tox -e bench --
--compare masakari``); this test proves the Masakari it measures is not
broken. hostA is powered off through its BMC, masakari-monitors'
hostmonitor notification is posted to the real masakari-api, and the real
masakari-engine must evacuate every server through the real Nova: Nova
shows each one elsewhere, ACTIVE, evacuated exactly once, and hostA's
service disabled. Masakari runs the "tuned" variant here (its pure sleeps
cut, see tools/lab/lab_masakari.py) so the test takes seconds, not minutes.

Skipped unless the lab runs Masakari (``tools/lab/lab up --with
masakari``).
"""

from tools.lab.access import lab as lablib
from tools.lab.access.lab import requires_lab
from tools.lab.access import masakari

pytestmark = [requires_lab, masakari.requires_masakari,
              lablib.pytest.mark.lab]


def test_defaults_are_the_installed_packages(lab_info):
    """The lab's default variant leaves every timing at the package's
    shipped default (read from the installed masakari)."""
    found = masakari.info()
    assert found['variant'] == 'default', found
    for name, option in found['options'].items():
        assert option['value'] == option['default'], (name, option)


def test_notification_leads_to_evacuation(clean_lab, nova):
    recs = masakari.prove_evacuation(nova, count=2)
    names = [task['name'] for task in recs['progress']]
    assert names == ['DisableComputeServiceTask',
                     'PrepareHAEnabledInstancesTask',
                     'EvacuateInstancesTask'], names
    assert all(task['state'] == 'SUCCESS' for task in recs['progress'])
    # the notification was created after the power-off it reports
    assert recs['generated_at'] <= recs['created_at']
