"""Our TensorBoard event files load in TensorBoard's own reader with the values we logged."""
import glob
import json
import os
import tempfile

from refutil import Checks, ref_tool, require

(tb,) = require("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

checks = Checks()
with tempfile.TemporaryDirectory() as run:
    ref_tool("metrics-write", run)
    acc = EventAccumulator(os.path.join(run, "tb"))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    checks.check(tags == {"reward/mean", "loss"}, f"scalar tags {tags}")
    rewards = [(e.step, e.value) for e in acc.Scalars("reward/mean")]
    checks.check(rewards == [(1, 0.25), (2, 0.5), (3, 0.75)], f"reward/mean events {rewards}")
    losses = [(e.step, e.value) for e in acc.Scalars("loss")]
    checks.check(losses == [(1, 2.0), (2, 1.5), (3, 1.0)], f"loss events {losses}")
    lines = [json.loads(l) for l in open(os.path.join(run, "metrics.jsonl"))]
    checks.check([l["reward/mean"] for l in lines] == [0.25, 0.5, 0.75], "metrics.jsonl agrees")
checks.finish()
