"""The embedding API: recover a host with one call.

For another OpenStack service or a notification consumer that wants vmha's
recovery without its CLI or monitor::

    from vmha import api
    report = api.recover_host(conf, 'compute-7', level=2)
    plan = api.recover_host(conf, 'compute-7', dry_run=True)

``conf`` is the caller's ConfigOpts; vmha registers its groups on it.
Each call builds the one entry every vmha caller uses
(:func:`vmha.recovery.from_conf`) and closes it; a service that recovers
often can keep its own: ``recovery.from_conf(conf)``.
"""

from vmha import conf as vmha_conf
from vmha.db import migration
from vmha import recovery


def prepare(conf):
    """Register vmha's options on ``conf`` (safe to call repeatedly;
    :func:`recover_host` and :func:`resume_recoveries` do it too)."""
    vmha_conf.register_opts(conf)
    return conf


def sync_database(conf):
    """Create or upgrade vmha's tables (and taskflow's) in [database]."""
    migration.upgrade(prepare(conf).database.connection)


def recover_host(conf, host, level=None, dry_run=False, detected_at=None,
                 detected_by=None, **collaborators):
    """Recover ``host``; returns a RecoveryReport (or DryRunReport).

    Runs like every other caller (:meth:`vmha.recovery.Recoverer.run`):
    under the recovery's ownership lease, so a monitor never runs it too.

    ``level`` overrides the host's and ``[recovery] quick_evacuate_level``.
    ``detected_by`` (what detected the failure) makes the recovery notify
    ``vmha.host.failure`` first. ``collaborators`` (compute, db, dispatcher,
    backend) replace the ones built from ``conf``.
    """
    with recovery.from_conf(conf, **collaborators) as recoverer:
        if dry_run:
            return recoverer.dry_run(host, level)
        return recoverer.recover(host, level, detected_at=detected_at,
                                 detected_by=detected_by)


def resume_recoveries(conf, **collaborators):
    """Resume every recovery a crashed process left unfinished; one that a
    live process runs (it holds the lease) is left to it and reported as it
    stands. A lease still running is waited for (at most ``[jobboard]
    claim_timeout``): its owner may have died just before."""
    with recovery.from_conf(conf, **collaborators) as recoverer:
        return recoverer.resume_all()
