"""Fine-tuning from the trained proxy: a few steps lower the loss and AbsRel; resume continues the same schedule."""
from __future__ import annotations

import pytest
import torch

from streamer.errors import StreamerError
from streamer.model import build_network
from streamer.model.weights import read_state_dict
from streamer.train.augment import collate, make_example
from streamer.train.checkpoint import WarmupCosine, checkpoint_path
from streamer.train.config import TrainOptions
from streamer.train.evaluate import evaluate, torch_predictor
from streamer.train.loss import ssi_loss
from streamer.train.trainer import Trainer
from tests.train.conftest import THREADS, TRAINED

SIZE, EVAL_SIZE = 64, 96  # tiny on purpose: the whole suite shares 2 cores


def _measure(trainer: Trainer) -> tuple[float, float]:
    """(loss on fixed centre crops, AbsRel by the eval protocol) over the training images, no augmentation."""
    model, data = trainer.model, trainer.data
    model.eval()
    with torch.no_grad():
        images, targets, masks = collate([make_example(data.load(i), SIZE, None) for i in range(len(data))])
        loss = float(ssi_loss(model(images), targets, masks))
    return loss, evaluate(torch_predictor(model, EVAL_SIZE), data, progress=False)["abs_rel"]


@pytest.fixture(scope="module")
def fine_tuned(tiny_demo, tmp_path_factory):
    """Six steps (3 epochs x 2 batches of 2) on four rendered rooms (all for training), measured before and after."""
    out = tmp_path_factory.mktemp("fine_tuned") / "tuned.pt"
    opts = TrainOptions(data=str(tiny_demo), out=str(out), weights=str(TRAINED), epochs=3, batch=2, lr=2e-3,
                        size=SIZE, val_split=0, eval_size=EVAL_SIZE, threads=THREADS)
    steps = []
    trainer = Trainer(opts, progress=False, on_step=steps.append)
    before = _measure(trainer)
    summary = trainer.run()
    return {"out": out, "before": before, "after": _measure(trainer), "summary": summary, "steps": steps}


def test_few_steps_lower_loss_and_abs_rel(fine_tuned):
    (loss0, rel0), (loss1, rel1) = fine_tuned["before"], fine_tuned["after"]
    assert fine_tuned["summary"]["step"] == 6 and not fine_tuned["summary"]["interrupted"]
    assert loss1 < loss0 * 0.97, (loss0, loss1)
    assert rel1 < rel0 - 0.005, (rel0, rel1)


def test_output_is_a_strictly_loadable_official_layout_state_dict(fine_tuned):
    state = torch.load(fine_tuned["out"], map_location="cpu", weights_only=True)
    reference = build_network(read_state_dict(TRAINED)).state_dict()
    assert set(state) == set(reference)  # plain state dict, official keys (with BatchNorm batch counters)
    assert all(state[k].shape == reference[k].shape for k in reference)
    network = build_network(read_state_dict(fine_tuned["out"]))  # the strict loader run/infer/eval use
    changed = [k for k, v in network.state_dict().items() if not torch.equal(v, reference[k])]
    assert any(k.startswith("scratch.") for k in changed) and any(k.startswith("pretrained.") for k in changed)
    # Fewer than 500 images: the backbone's BatchNorm statistics and affine parameters stay as they were.
    bn = {f"{name}.{k}" for name, m in network.named_modules() if isinstance(m, torch.nn.BatchNorm2d)
          for k in m.state_dict()}
    assert len(bn) > 100 and not bn & set(changed)


def test_resume_continues_the_schedule(tiny_demo, tmp_path):
    out = tmp_path / "r.pt"
    opts = dict(data=str(tiny_demo), out=str(out), weights=str(TRAINED), epochs=2, batch=2, lr=1e-3, size=SIZE,
                val_split=0.25, eval_size=EVAL_SIZE, threads=THREADS)
    first: list[dict] = []

    def stop_after_one(info):
        first.append(info)
        trainer.stop()  # what Ctrl-C does: finish this step, save, return

    trainer = Trainer(TrainOptions(**opts), progress=False, on_step=stop_after_one)
    summary = trainer.run()
    assert summary["interrupted"] and summary["step"] == 1 and not out.exists()
    assert checkpoint_path(out).is_file()
    with pytest.raises(StreamerError, match="--resume"):
        Trainer(TrainOptions(**opts), progress=False)  # an earlier run's checkpoint is never silently overwritten

    rest: list[dict] = []
    # Flags that would change the schedule are ignored on resume (with a warning): epochs stays 2.
    resumed = Trainer(TrainOptions(**{**opts, "epochs": 5, "lr": 0.5}), resume=True, given={"epochs", "lr"},
                      progress=False, on_step=rest.append)
    assert (resumed.opts.epochs, resumed.opts.lr) == (2, 1e-3)
    assert resumed.val_names == trainer.val_names and resumed.train_names == trainer.train_names
    summary = resumed.run()
    steps = first + rest
    assert [s["step"] for s in steps] == [1, 2, 3, 4] and summary["step"] == summary["total_steps"] == 4
    assert [s["epoch"] for s in steps] == [0, 0, 1, 1]
    schedule = WarmupCosine(warmup=1, total=4)  # 5 % of 4 steps rounds to the 1-step minimum
    assert [s["lr"] for s in steps] == pytest.approx([1e-3 * schedule(k) for k in range(4)])
    assert out.is_file() and [h["epoch"] for h in summary["history"]] == [0, 1, 2]
    assert all(h["abs_rel"] is not None for h in summary["history"])  # validated at the start and every epoch
