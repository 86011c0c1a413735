"""Writes the collection's Markdown docs as antsibull-docs extra docs (RST under docs/docsite/rst/).

The Markdown files stay the source (GitHub-style readers and ansible-doc users read them as they are);
the docs site and Galaxy render only RST extra docs, each with a label ansible_collections.pve.cloud.docsite.NAME.
Usage: python docs/docsite/md2rst.py COLLECTION_ROOT (run on a copy: make docs and make release do).
"""

from __future__ import annotations

import glob
import os
import sys

import pypandoc
import yaml

LABEL = 'ansible_collections.pve.cloud.docsite.%s'


def sources(root):
    """name -> Markdown file, as extra-docs.yml refers to them."""
    index = yaml.safe_load(open(os.path.join(root, 'docs', 'docsite', 'extra-docs.yml')))
    names = [entry['ref'] if isinstance(entry, dict) else entry
             for section in index['sections'] for entry in section['toctree']]
    found = dict((os.path.splitext(os.path.basename(p))[0], p) for p in glob.glob(os.path.join(root, 'docs', '*.md')))
    found['awx'] = os.path.join(root, 'docs', 'awx', 'README.md')
    missing = sorted(set(found) - set(names))
    if missing:
        sys.exit('docs/docsite/extra-docs.yml does not list %s' % ', '.join('docs/%s.md' % m for m in missing))
    return dict((name, found[name]) for name in names)


def main(root):
    out = os.path.join(root, 'docs', 'docsite', 'rst')
    os.makedirs(out, exist_ok=True)
    for name, path in sources(root).items():
        body = pypandoc.convert_file(path, 'rst', format='gfm-gfm_auto_identifiers', extra_args=['--wrap=none'])
        with open(os.path.join(out, name + '.rst'), 'w') as f:
            f.write('.. _%s:\n\n%s' % (LABEL % name, body))
        print('%s -> docs/docsite/rst/%s.rst' % (os.path.relpath(path, root), name))


if __name__ == '__main__':
    main(sys.argv[1])
