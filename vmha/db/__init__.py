"""vmha's own records: host inventory, recoveries, evacuations, event log.

SQLAlchemy models (:mod:`.models`), alembic migrations (:mod:`.migration`)
and a small repository API (:mod:`.api`). The same database also holds the
taskflow engine's persisted flow state (its own tables and migrations).
"""
