#!/usr/bin/env python
"""Evaluate a checkpoint with mmseg-sia; the command line of mmseg's test.py.

    python tools/test.py CONFIG CHECKPOINT [--out DIR] [--show-dir DIR] [--tta]
"""
import argparse
import os

from _cli import LazyDictAction, run_main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Test (and evaluate) a segmentor')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir',
        help='the directory to save the file containing evaluation metrics')
    parser.add_argument(
        '--out', type=str, help='the directory to save the predicted masks')
    parser.add_argument(
        '--show', action='store_true', help='show prediction results')
    parser.add_argument(
        '--show-dir',
        help='directory where painted images will be saved. If specified, '
        'it will be automatically saved to the work_dir/timestamp/show_dir')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=LazyDictAction,
        help='override settings of the config, key=value pairs')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument(
        '--tta', action='store_true', help='Test time augmentation')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main() -> None:
    args = parse_args()
    import mmseg_sia  # noqa: F401  (applies compat fixes, registers modules)
    from mmseg_sia.runner import make_test_config, test
    cfg = make_test_config(
        args.config,
        args.checkpoint,
        work_dir=args.work_dir,
        out=args.out,
        show=args.show,
        show_dir=args.show_dir,
        wait_time=args.wait_time,
        tta=args.tta,
        cfg_options=args.cfg_options,
        launcher=args.launcher)
    test(cfg)


if __name__ == '__main__':
    run_main(main)
