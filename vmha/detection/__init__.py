"""Failure detection: sources that observe hosts, and the decision.

Sources (entry point namespace ``vmha.detection``, chosen by ``[monitor]
detection_sources``) each report what they see of every host;
:mod:`vmha.detection.decision` combines them into "failed or not" and guards
against mass failures. The monitor (:mod:`vmha.monitor`) runs both.
"""

from vmha.drivers import loader

NAMESPACE = loader.DETECTION_NAMESPACE


def load_sources(conf, **collaborators):
    """Instantiate every source in ``[monitor] detection_sources``.

    ``collaborators`` (``compute``, ``clock``, ...) are passed to each source
    as keyword arguments; sources take what they need.
    """
    return [loader.load(NAMESPACE, name, conf, **collaborators)
            for name in conf.monitor.detection_sources]
