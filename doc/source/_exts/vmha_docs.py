"""Sphinx helpers that build parts of vmha's documentation from the source.

* Markdown pages kept where the repository has them (README.md,
  doc/fencing.md, doc/notifications.md) are read into the site as they are;
  only their links, written relative to the repository for GitHub readers,
  are turned into links between the site's pages (or plain text, for files
  that are not part of the site). One copy of each text.
* ``.. vmha-events::`` lists every event type (vmha.events) with its
  priority and SNMP notification (vmha.drivers.notification.snmp).
* ``.. vmha-levels::`` lists every ``quick_evacuate_level`` (vmha.levels):
  what it does, whether it fences first, its steps and its flow builder.
* ``.. vmha-metrics::`` lists every Prometheus metric of vmha.metrics with
  its type, labels and help text, from the metric objects themselves.
"""

import pathlib
import re

from docutils import nodes
from docutils.parsers.rst import Directive
from sphinx.util import logging

LOG = logging.getLogger(__name__)

REPO = pathlib.Path(__file__).resolve().parents[3]

#: site page -> (repository file it shows, {link target: site link})
MARKDOWN_PAGES = {
    'admin/overview': ('README.md', {
        'doc/fencing.md': 'fencing.md',
        'doc/notifications.md': 'notifications.md',
        'etc/vmha/vmha.conf.sample': '../configuration/sample.rst',
        'vmha/levels.py': '../reference/levels.rst',
    }),
    'admin/fencing': ('doc/fencing.md', {}),
    'admin/notifications': ('doc/notifications.md', {}),
}

_LINK = re.compile(r'(!?)\[([^\]]*)\]\(([^)\s]+)\)')


def _site_link(page, links, match):
    """One Markdown link or image of ``page``, made to work in the site."""
    image, text, target = match.groups()
    if re.match(r'[a-z]+:|#', target):          # external, or an anchor
        return match.group(0)
    if target in links:
        return '%s[%s](%s)' % (image, text, links[target])
    source = (REPO / page).parent / target
    if image:                                   # images: from the file
        rel = pathlib.Path('../..') / source.relative_to(REPO / 'doc')
        return '![%s](%s)' % (text, rel.as_posix())
    # a repository file that is not a page of the site: name it
    path = source.resolve().relative_to(REPO).as_posix()
    return text if '`%s`' % path in text else '%s (`%s`)' % (text, path)


#: site page -> its title, where the file's own (the README's) would not do
TITLES = {'admin/overview': 'How vmha works (the README)'}


def markdown_page(app, docname, source):
    """source-read: fill a page of MARKDOWN_PAGES from its repository
    file."""
    if docname not in MARKDOWN_PAGES:
        return
    page, links = MARKDOWN_PAGES[docname]
    path = REPO / page
    app.env.note_dependency(str(path))
    text = _LINK.sub(lambda m: _site_link(page, links, m), path.read_text())
    if docname in TITLES:
        text = re.sub(r'\A# .*', '# ' + TITLES[docname], text)
    source[0] = text


def _table(header, rows, widths):
    """A docutils table of ``rows`` (lists of nodes or strings)."""
    table = nodes.table()
    group = nodes.tgroup(cols=len(header))
    table += group
    for width in widths:
        group += nodes.colspec(colwidth=width)
    head = nodes.thead()
    group += head
    body = nodes.tbody()
    group += body
    for target, cells in ((head, header), *((body, row) for row in rows)):
        row = nodes.row()
        for cell in cells:
            entry = nodes.entry()
            if isinstance(cell, nodes.Sequential):
                entry += cell
            elif isinstance(cell, nodes.Node):
                entry += nodes.paragraph('', '', cell)
            else:
                entry += nodes.paragraph(text=str(cell))
            row += entry
        target += row
    return table


def _code(text):
    return nodes.literal(text=text)


class EventsDirective(Directive):
    """Every notified event type, its priority and SNMP notification."""

    def run(self):
        from vmha.drivers.notification import snmp
        from vmha import events
        rows = []
        for event_type in events.ALL_TYPES:
            number, name = snmp.NOTIFICATIONS.get(event_type, (None, None))
            priority = events.PRIORITIES[event_type]
            if event_type in events.DEPRECATED_TYPES:
                priority += ' (deprecated: use %s)' % (
                    events.DEPRECATED_TYPES[event_type])
            rows.append([_code(event_type), priority,
                         _code(name) if name else '(generic)',
                         '<base_oid>.0.%s' % number if number else ''])
        for event_type, priority in events.RECORD_ONLY.items():
            rows.append([_code(event_type), priority, 'not notified',
                         'recorded in the event log only'])
        return [_table(['Event type', 'Priority', 'VMHA-MIB notification',
                        'OID'], rows, [40, 10, 35, 20])]


class LevelsDirective(Directive):
    """Every quick_evacuate_level, from the table the code runs."""

    def run(self):
        from vmha import levels
        rows = []
        for level in levels.LEVELS.values():
            steps = nodes.enumerated_list()
            for step in level.steps:
                steps += nodes.list_item('', nodes.paragraph(text=step))
            rows.append(['%d (%s)' % (level.number, level.name),
                         level.summary,
                         'yes' if level.fences_first else 'no',
                         steps, _code('vmha.flows.' + level.builder)])
        return [_table(['Level', 'What it does', 'Fences first', 'Steps',
                        'Flow builder'], rows, [10, 40, 10, 40, 20])]


class MetricsDirective(Directive):
    """Every metric of vmha.metrics as Prometheus exposes it."""

    def run(self):
        from vmha import metrics
        rows = []
        for metric in _metrics(metrics):
            name = metric._name + ('_total' if metric._type == 'counter'
                                   else '')
            rows.append([_code(name), metric._type,
                         ', '.join(metric._labelnames) or '',
                         metric._documentation])
        return [_table(['Metric', 'Type', 'Labels', 'Help text'], rows,
                       [40, 10, 20, 50])]


def _metrics(module):
    import prometheus_client
    base = prometheus_client.metrics.MetricWrapperBase
    return [value for value in vars(module).values()
            if isinstance(value, base)]


def setup(app):
    app.connect('source-read', markdown_page)
    app.add_directive('vmha-events', EventsDirective)
    app.add_directive('vmha-levels', LevelsDirective)
    app.add_directive('vmha-metrics', MetricsDirective)
    return {'parallel_read_safe': True, 'parallel_write_safe': True}
