#!/usr/bin/env python
"""Train a segmentor with mmseg-sia; the command line of mmseg's train.py.

    python tools/train.py configs/sia/fpn_r101_sia.py
    bash tools/dist_train.sh configs/sia/fpn_r18_sia-sample.py 2
"""
import argparse
import os

from _cli import LazyDictAction, run_main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a segmentor')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        action='store_true',
        default=False,
        help='resume from the latest checkpoint in the work_dir automatically')
    parser.add_argument(
        '--amp',
        action='store_true',
        default=False,
        help='enable automatic-mixed-precision training (GPU only)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=LazyDictAction,
        help='override settings of the config, key=value pairs such as '
        'train_dataloader.dataset.data_root=data/sia')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main() -> None:
    args = parse_args()
    import mmseg_sia  # noqa: F401  (applies compat fixes, registers modules)
    from mmseg_sia.runner import make_train_config, train
    cfg = make_train_config(
        args.config,
        work_dir=args.work_dir,
        resume=args.resume,
        amp=args.amp,
        cfg_options=args.cfg_options,
        launcher=args.launcher)
    train(cfg)


if __name__ == '__main__':
    run_main(main)
