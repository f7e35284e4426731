"""The operator's collector settings: start-up objects frozen, collections rarer than the default."""

from __future__ import annotations

import gc

from modelfleet.reconcile.operator import GC_THRESHOLDS, tune_gc


def test_tuning_freezes_what_start_up_loaded_and_collects_less_often() -> None:
    before = gc.get_threshold()
    try:
        tune_gc()
        assert gc.get_freeze_count() > 0  # the modules imported so far are out of every collection
        assert gc.get_threshold() == GC_THRESHOLDS
        young, middle, full = GC_THRESHOLDS
        assert young > before[0]  # a young collection every 50,000 allocations, not every 700
        assert full >= 1 and middle >= 1  # full collections still happen
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
