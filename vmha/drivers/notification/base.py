"""The interface every notification driver implements."""

import abc
import concurrent.futures

from vmha import exception


class NotificationFailed(exception.VmhaError):
    """A driver could not deliver an event (names driver, event, reason)."""

    msg_fmt = ('Notification driver %(driver)s could not send %(event_type)s '
               'for host %(host)s: %(reason)s')


class NotificationTimeout(NotificationFailed):
    msg_fmt = ('Notification driver %(driver)s gave up sending %(event_type)s '
               'for host %(host)s after %(timeout).1fs')


class Notifier(abc.ABC):
    """Delivers :class:`vmha.events.Event` objects to one kind of receiver.

    ``notify`` may raise: the dispatcher logs and counts the failure and goes
    on. It must bound its own time (timeouts, limited retries), since a
    recovery waits for its notifications only up to a deadline.
    """

    def __init__(self, conf):
        self.conf = conf

    @abc.abstractmethod
    def notify(self, event):
        """Deliver one event."""

    def close(self):
        """Release connections; called once when the process is done."""

    def wait_sent(self, future, timeout, event):
        """Wait up to ``timeout`` seconds for ``future`` (a send running in
        the driver's own worker, which answers a list of errors): the one
        place a driver's deadline and its failures become the exceptions
        the dispatcher counts. The send is cancelled if it is late."""
        try:
            errors = future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise NotificationTimeout(
                driver=self.name, event_type=event.event_type,
                host=event.host, timeout=timeout)
        if errors:
            raise NotificationFailed(
                driver=self.name, event_type=event.event_type,
                host=event.host, reason='; '.join(errors))
