"""The README runs as written, top to bottom (issue 10).

Every ``bash`` and ``python`` block of README.md is run, in the order a
reader meets them, in one fresh folder holding a copy of the bundled sample
and links to ``configs/`` and ``tools/``, so each command sees the files the
commands before it wrote. Lines that create or activate a virtual
environment or install packages are left out (the suite runs in the
installed environment). A block is not run when the line before its fence
says why::

    <!-- readme-test: skip (the reason) -->

and only excerpts of config files, commands for other machines (GPUs,
clusters, the network) and this very test command carry such a line.
Blocks of other languages (``json``, ``text``, layouts) are outputs, not run.
"""
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import List, Optional

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
README = osp.join(REPO, 'README.md')
SKIP = re.compile(r'<!--\s*readme-test:\s*skip\s*\((.+?)\)\s*-->')
FENCE = re.compile(r'^```(\w*)\s*$')
# Parts of a command line that set up an environment, not use it.
SETUP = re.compile(r'^\s*(python3? -m venv\b|\. \S*activate\b|source \S*'
                   r'activate\b|pip3? install\b|python3? -m pip install\b)')


@dataclass
class Block:
    line: int  # 1-based line of the opening fence
    lang: str
    text: str
    skip: Optional[str]


def readme_blocks(path: str = README) -> List[Block]:
    """The fenced blocks of a Markdown file, with their skip reasons."""
    with open(path, encoding='utf-8') as f:
        lines = f.read().splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        start, lang = i, m.group(1)
        j = i + 1
        while j < len(lines) and lines[j].strip() != '```':
            j += 1
        prev = next((lines[k] for k in range(start - 1, -1, -1)
                     if lines[k].strip()), '')
        skip = SKIP.search(prev)
        blocks.append(Block(start + 1, lang, '\n'.join(lines[start + 1:j]),
                            skip.group(1) if skip else None))
        i = j + 1
    return blocks


def runnable(block: Block) -> bool:
    return block.lang in ('bash', 'python') and block.skip is None


def strip_setup(script: str) -> str:
    """Remove environment set-up steps from a shell script.

    ``a && b && c`` chains lose their set-up links; a line that is only
    set-up goes.
    """
    out = []
    for line in script.splitlines():
        code, hash_, comment = line.partition(' #')
        parts = [p for p in code.split('&&') if not SETUP.match(p)]
        if not parts:
            continue
        kept = '&&'.join(parts)
        if len(parts) < len(code.split('&&')):
            kept = kept.lstrip()  # a chain that lost links: no indentation
        out.append(kept + hash_ + comment)
    return '\n'.join(out)


def test_blocks_are_found_and_each_skip_says_why():
    blocks = readme_blocks()
    assert sum(runnable(b) for b in blocks) >= 5
    for b in blocks:
        if b.skip is not None:
            assert len(b.skip) > 10, f'README line {b.line}: say why'


def test_setup_lines_are_stripped():
    script = ('python3 -m venv .venv && . .venv/bin/activate && pip install '
              'torch==2.13.0 -e . && python tools/train.py a.py  # train\n'
              'pip install -e .\npython x.py')
    assert strip_setup(script) == 'python tools/train.py a.py  # train\n' \
        'python x.py'


@pytest.fixture(scope='module')
def reader_folder(tmp_path_factory):
    """A fresh folder as a reader's clone would be, without the .git."""
    root = tmp_path_factory.mktemp('reader')
    for name in ('configs', 'tools', 'benchmarks'):
        os.symlink(osp.join(REPO, name), root / name)
    shutil.copytree(osp.join(REPO, 'data', 'sia_sample'),
                    root / 'data' / 'sia_sample')
    shutil.copy(README, root / 'README.md')
    return root


def test_readme_runs_top_to_bottom(reader_folder):
    env = dict(os.environ)
    env['PATH'] = osp.dirname(sys.executable) + os.pathsep + env['PATH']
    env['PYTHONPATH'] = REPO + os.pathsep + env.get('PYTHONPATH', '')
    env['MPLBACKEND'] = 'Agg'
    env.setdefault('OMP_NUM_THREADS', '1')
    for block in filter(runnable, readme_blocks()):
        if block.lang == 'bash':
            args = ['bash', '-euo', 'pipefail', '-c', strip_setup(block.text)]
        else:
            args = [sys.executable, '-c', block.text]
        proc = subprocess.run(args, cwd=reader_folder, env=env, text=True,
                              capture_output=True, timeout=900)
        if proc.returncode != 0:
            pytest.fail(f'README block at line {block.line} exited '
                        f'{proc.returncode}:\n{block.text}\n--- output:\n'
                        f'{(proc.stdout + proc.stderr)[-4000:]}')
