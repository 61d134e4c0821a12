"""Base class of vmha's tasks: an injected context and a stable name."""

from taskflow import task


class RecoveryTask(task.Task):
    """A task bound to one recovery's :class:`vmha.context.RecoveryContext`.

    Names must be stable across process restarts: taskflow matches persisted
    atom state to atoms by name when a recovery resumes.
    """

    #: default atom name; tasks created several times pass their own.
    default_name = None

    def __init__(self, ctx, name=None, **kwargs):
        super().__init__(name=name or self.default_name, **kwargs)
        self.ctx = ctx

    @property
    def host(self):
        return self.ctx.host.name
