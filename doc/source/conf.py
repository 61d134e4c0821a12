# vmha documentation build configuration (tox -e docs: sphinx-build -W).

import os
import sys

sys.path.insert(0, os.path.abspath('_exts'))

extensions = [
    'openstackdocstheme',
    'myst_parser',
    'oslo_config.sphinxext',
    'oslo_config.sphinxconfiggen',
    'reno.sphinxext',
    'cliff.sphinxext',
    'vmha_docs',
]

project = 'vmha'
copyright = 'vmha developers'
source_suffix = {'.rst': 'restructuredtext', '.md': 'markdown'}
master_doc = 'index'
exclude_patterns = ['_build']
pygments_style = 'native'

# openstackdocstheme
html_theme = 'openstackdocs'
openstackdocs_repo_name = 'vmha/vmha'
openstackdocs_use_storyboard = False
openstackdocs_auto_name = False
openstackdocs_pdf_link = False
html_static_path = ['_static']

# oslo_config.sphinxconfiggen: _static/vmha.conf.sample, from the same
# generator configuration as etc/vmha/vmha.conf.sample
config_generator_config_file = '../../etc/oslo-config-generator/vmha.conf'
sample_config_basename = '_static/vmha'

# myst-parser: the Markdown pages (doc/*.md) keep their GitHub anchors
myst_heading_anchors = 3
# links of the Markdown pages are looked up as documents and std labels only
# (oslo.config's domain cannot resolve arbitrary targets)
myst_ref_domains = ['std']
