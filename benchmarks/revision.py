"""Modules of the plugin as they were at another git revision.

The benchmarks' ``--baseline REF`` imports them beside this checkout's, as
a package of their own (``baseline_sia``), so both versions are timed in
turn in one process, on the same data and under the same load.
"""
from __future__ import annotations

import importlib
import os
import os.path as osp
import subprocess
import sys
from typing import Dict, Sequence

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def import_revision(ref: str, names: Sequence[str],
                    where: str) -> Dict[str, object]:
    """Import ``mmseg_sia/<name>.py`` of git revision ``ref`` for each name.

    Args:
        ref (str): A git revision of this repository (``main``, a hash).
        names (Sequence[str]): Module names; those that the revision does
            not have are left out (their import is then where it fails, if
            the others need them).
        where (str): An empty folder for the package.

    Returns:
        dict[str, module]: The modules imported, by name.
    """
    package = osp.join(where, 'baseline_sia')
    os.makedirs(package)
    open(osp.join(package, '__init__.py'), 'w').close()
    found = []
    for name in names:
        shown = subprocess.run(
            ['git', '-C', REPO, 'show', f'{ref}:mmseg_sia/{name}.py'],
            capture_output=True)
        if shown.returncode == 0:
            with open(osp.join(package, name + '.py'), 'wb') as f:
                f.write(shown.stdout)
            found.append(name)
    if not found:
        raise SystemExit(f'git revision {ref!r} has none of {list(names)}')
    sys.path.insert(0, where)
    return {name: importlib.import_module(f'baseline_sia.{name}')
            for name in found}
