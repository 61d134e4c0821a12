"""Many simulated vmha-agents in one process: the monitor's load.

    python -m tools.bench.swarm CONFIG COUNT PREFIX [--first N] [--pipelined]

Joins ``COUNT`` members ``PREFIX-00001``... (numbered from ``--first``) to
the config's agents' group, prints ``joined COUNT`` and heartbeats every
member every ``heartbeat_interval`` until SIGTERM. It uses vmha's own
membership code (vmha.coordination), as vmha-agent does.

By default each member has its own tooz coordinator (one backend
connection, as one vmha-agent per host has). That cannot reach 10,000
members on one machine: Redis accepts 10,000 clients by default, and one
Python process cannot make 20,000 heartbeat round trips a second. With
``--pipelined`` the members of this process share one coordinator: each
joins through vmha's ``Membership.join`` (tooz's join, the same group entry
an agent writes), and every interval one pipeline sets every member's beat
key exactly as tooz's ``heartbeat`` does (``PSETEX`` of the member's beat
key with the membership expiry). Redis then holds what that many agents
would make it hold, and the monitor reads the same; Redis serves the same
number of commands but far fewer connections and round trips, so its CPU is
lower than under real agents.

On SIGTERM it exits without leaving: the members expire on the backend as
crashed agents' do. (Stopping a tooz Redis coordinator takes about a second,
so leaving 1,000 members one by one would take a quarter of an hour.)
"""

import argparse
import resource
import signal
import sys
import threading
import time

from oslo_config import cfg

from vmha import conf as vmha_conf
from vmha import coordination

#: beat keys per pipeline round trip
CHUNK = 1000
#: look for forgotten members every this many rounds
REJOIN_ROUNDS = 10


def _more_files(count):
    """One socket per member: raise the soft descriptor limit if needed."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = count + 256
    if soft != resource.RLIM_INFINITY and soft < wanted:
        limit = wanted if hard == resource.RLIM_INFINITY else min(wanted,
                                                                  hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))


def member_names(prefix, count, first=1):
    """``PREFIX-00001``... : ``count`` names numbered from ``first``."""
    return ['%s-%05d' % (prefix, i) for i in range(first, first + count)]


def join(conf, names):
    members = []
    for name in names:
        member = coordination.Membership.connect(conf, name)
        member.join(name, {'host': name})
        members.append(member)
    return members


def forgotten(driver, group_key, names):
    """The ``names`` the group no longer holds (one read): a reader
    (tooz's get_members) drops a member whose beat key expired, e.g. while
    this process was not scheduled for the membership expiry on a
    saturated machine. vmha-agent joins again then; so does the swarm."""
    present = set(driver._client.hkeys(group_key))
    return [n for n in names if n.encode('utf-8') not in present]


def _group_key(member):
    return member._coordinator._encode_group_id(member.group.encode('utf-8'))


class PerConnection:
    """One tooz coordinator per member, as one vmha-agent per host has;
    members the backend forgot join again every REJOIN_ROUNDS rounds."""

    def __init__(self, conf, names):
        self.members = dict(zip(names, join(conf, names)))
        first = self.members[names[0]]
        self.driver, self.group_key = first._coordinator, _group_key(first)
        self.rounds = 0
        self.rejoined = 0

    def heartbeat(self):
        self.rounds += 1
        if self.rounds % REJOIN_ROUNDS == 0:
            missing = forgotten(self.driver, self.group_key,
                                list(self.members))
            for name in missing:
                self.members[name].join(name, {'host': name})
            _note_rejoined(self, len(missing))
        for member in self.members.values():
            member.heartbeat()


def _note_rejoined(swarm, count):
    if not count:
        return
    swarm.rejoined += count
    print('swarm: rejoined %d forgotten members (%d in all)' % (
        count, swarm.rejoined), file=sys.stderr, flush=True)


class Pipelined:
    """Many members over one tooz Redis coordinator (see the module doc).

    Reaches into the tooz Redis driver (its member id, beat-key encoding
    and client): a benchmark tool, pinned by tox's constraints.
    """

    def __init__(self, conf, names):
        self.names = names
        self.member = coordination.Membership.connect(conf, names[0])
        self.driver = self.member._coordinator
        self.join(names)
        self.keys = [self.driver._encode_beat_id(n.encode('utf-8'))
                     for n in names]
        self.expiry_ms = max(0, int(self.driver.membership_timeout * 1000))
        self.group_key = _group_key(self.member)
        self.rounds = 0
        self.rejoined = 0

    def join(self, names):
        for name in names:
            self.driver._member_id = name.encode('utf-8')
            self.member.join(name, {'host': name})
        self.driver._member_id = self.names[0].encode('utf-8')

    def rejoin(self):
        """Join again the members the backend forgot (see forgotten)."""
        missing = forgotten(self.driver, self.group_key, self.names)
        if missing:
            self.join(missing)
        _note_rejoined(self, len(missing))

    def heartbeat(self):
        self.rounds += 1
        if self.rounds % REJOIN_ROUNDS == 0:
            self.rejoin()
        for start in range(0, len(self.keys), CHUNK):
            pipe = self.driver._client.pipeline(transaction=False)
            for key in self.keys[start:start + CHUNK]:
                pipe.psetex(key, self.expiry_ms, self.driver.STILL_ALIVE)
            pipe.execute()


def beat(members, interval, stop):
    """Heartbeat every member once per ``interval`` until ``stop``."""
    while not stop.is_set():
        started = time.monotonic()
        for member in members:
            member.heartbeat()
        stop.wait(max(0.0, interval - (time.monotonic() - started)))


def parser():
    p = argparse.ArgumentParser(prog='python -m tools.bench.swarm')
    p.add_argument('config')
    p.add_argument('count', type=int)
    p.add_argument('prefix')
    p.add_argument('--first', type=int, default=1)
    p.add_argument('--pipelined', action='store_true')
    return p


def main(argv):
    args = parser().parse_args(argv)
    conf = cfg.ConfigOpts()
    vmha_conf.register_opts(conf)
    conf(['--config-file', args.config], default_config_files=[])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    names = member_names(args.prefix, args.count, args.first)
    if args.pipelined:
        members = [Pipelined(conf, names)]
    else:
        _more_files(args.count)
        members = [PerConnection(conf, names)]
    print('joined %d' % len(names), flush=True)
    beat(members, conf.coordination.heartbeat_interval, stop)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
