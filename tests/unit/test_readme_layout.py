"""The README's layout table names every module and package of vmha/, and
nothing that is not there (issue 18: the table matches the tree)."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _layout_paths():
    text = (ROOT / 'README.md').read_text()
    section = text.split('## Layout\n', 1)[1].split('\n## ', 1)[0]
    return set(re.findall(r'`(vmha/[\w/.]+?)`', section))


def _tree():
    found = set()
    for path in (ROOT / 'vmha').iterdir():
        if path.name.startswith('__') or path.name.startswith('.'):
            continue
        if path.is_dir():
            found.add('vmha/%s/' % path.name)
        elif path.suffix == '.py':
            found.add('vmha/%s' % path.name)
    return found


def test_every_module_is_in_the_layout_table():
    named = _layout_paths()
    missing = [p for p in sorted(_tree()) if p not in named
               and not any(n.startswith(p) for n in named)]
    assert not missing, 'README layout lacks %s' % missing


def test_the_layout_table_names_nothing_that_is_gone():
    gone = [p for p in sorted(_layout_paths())
            if not (ROOT / p).exists()]
    assert not gone, 'README layout names missing paths %s' % gone
