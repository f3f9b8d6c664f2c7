"""`train`: the fine-tuning loop (AdamW, warm-up + cosine, clipping), per-epoch validation, checkpoints, Ctrl-C."""
from __future__ import annotations

import logging
import math
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from streamer.core.progress import Progress
from streamer.errors import StreamerError
from streamer.model.backends import default_threads
from streamer.train import config as C
from streamer.train.augment import collate, make_example, sample_rng
from streamer.train.checkpoint import WarmupCosine, checkpoint_path, export_weights, load_checkpoint, save_checkpoint
from streamer.train.dataset import RGBDDataset
from streamer.train.evaluate import evaluate, format_table, torch_predictor
from streamer.train.loss import ssi_loss
from streamer.train.model_setup import frozen_modules, load_start, param_groups, set_train_mode

log = logging.getLogger(__name__)
StepHook = Callable[[dict], None]


class Trainer:
    """One training run. `run()` returns a summary; `stop()` (Ctrl-C) ends it after the current step, saved."""

    def __init__(self, opts: C.TrainOptions, resume: bool = False, given: set[str] | None = None,
                 progress: bool = True, on_step: StepHook | None = None, handle_sigint: bool = True) -> None:
        opts.validate()
        self.out = Path(opts.out)
        self.ckpt_path = checkpoint_path(self.out)
        self.progress, self.on_step, self.handle_sigint = progress, on_step, handle_sigint
        self._stop = threading.Event()
        saved = None
        if resume:
            saved = load_checkpoint(self.ckpt_path)
            opts = C.resume_options(opts, saved["args"], given or set())
        elif self.ckpt_path.exists():
            raise StreamerError(f"checkpoint {self.ckpt_path} exists from an earlier run: pass --resume to continue "
                                f"it, or delete it to start over")
        self.opts = opts
        torch.set_num_threads(opts.threads or default_threads())
        self.data = RGBDDataset(opts.data, opts.depth_scale)
        names = self.data.names
        if saved is not None:
            self.train_names, self.val_names = saved["train_names"], saved["val_names"]
            C.check_same_data(names, self.train_names, self.val_names)
        else:
            self.train_names, self.val_names = C.split_names(names, opts.val_split, opts.seed)
        index = {n: i for i, n in enumerate(names)}
        self.train_set = self.data.subset([index[n] for n in self.train_names])
        self.val_set = self.data.subset([index[n] for n in self.val_names]) if self.val_names else None

        # channels_last: ~10 % more images/s on the CPU (oneDNN's preferred layout); exported weights are contiguous.
        self.model = load_start(opts.weights, saved["model"] if saved else None).to(memory_format=torch.channels_last)
        self.bn_frozen = C.bn_frozen(opts, len(self.train_set))
        self.frozen = frozen_modules(self.model, opts.freeze_backbone, self.bn_frozen)
        self.optimizer = torch.optim.AdamW(param_groups(self.model, opts.lr, opts.encoder_lr_scale,
                                                        opts.weight_decay))
        self.steps_per_epoch = math.ceil(len(self.train_set) / opts.batch)
        self.total_steps = opts.epochs * self.steps_per_epoch
        warmup = max(1, round(opts.warmup * self.total_steps))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, WarmupCosine(warmup, self.total_steps))
        self.epoch, self.batch_in_epoch, self.step, self.history = 0, 0, 0, []
        if saved is not None:
            self.optimizer.load_state_dict(saved["optimizer"])
            self.scheduler.load_state_dict(saved["scheduler"])
            self.epoch, self.batch_in_epoch, self.step = saved["epoch"], saved["batch_in_epoch"], saved["step"]
            self.history = list(saved["history"])
            torch.set_rng_state(saved["rng"]["torch"])
            log.info("resuming %s: epoch %d/%d, step %d/%d", self.ckpt_path, self.epoch + 1, opts.epochs,
                     self.step, self.total_steps)
        self._val_seconds = 0.0

    # -- control -------------------------------------------------------------------------------------------------
    def stop(self) -> None:
        self._stop.set()

    def _on_sigint(self, signum, frame) -> None:
        log.warning("Ctrl-C: saving a checkpoint after this step, then exiting (Ctrl-C again aborts unsaved)")
        signal.signal(signal.SIGINT, signal.default_int_handler)
        self.stop()

    # -- the run -------------------------------------------------------------------------------------------------
    def run(self) -> dict:
        opts = self.opts
        log.info("training on %d images, validating on %d; %d epochs x %d steps of %d at %dx%d; lr %g (encoder %g); "
                 "%s; checkpoint %s", len(self.train_set), len(self.val_names), opts.epochs, self.steps_per_epoch,
                 opts.batch, opts.size, opts.size, opts.lr, opts.lr * opts.encoder_lr_scale,
                 "encoder frozen" if opts.freeze_backbone else
                 ("backbone BatchNorm frozen" if self.bn_frozen else "BatchNorm training"), self.ckpt_path)
        previous = None
        if self.handle_sigint and threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGINT, self._on_sigint)
        try:
            if self.step == 0 and not self.history and self.val_set is not None:
                self._record(0, None, self.validate(), 0.0)  # the starting point, to judge the fine-tune against
            return self._loop()
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)

    def _loop(self) -> dict:
        opts = self.opts
        n = len(self.train_set)
        images_left = (opts.epochs - self.epoch) * n - min(self.batch_in_epoch * opts.batch, n)
        trained, train_seconds = 0, 0.0
        while self.epoch < opts.epochs:
            # The epoch's order depends on (seed, epoch) only, so a resumed epoch skips exactly the batches done.
            perm = np.random.default_rng([opts.seed, self.epoch]).permutation(n)
            done = min(self.batch_in_epoch * opts.batch, n)
            bar = Progress(n, f"epoch {self.epoch + 1}/{opts.epochs}", initial=done) if self.progress else None
            losses, epoch_images, epoch_seconds = [], 0, 0.0
            set_train_mode(self.model, self.frozen)
            while self.batch_in_epoch < self.steps_per_epoch:
                t0 = time.perf_counter()
                picks = perm[self.batch_in_epoch * opts.batch:(self.batch_in_epoch + 1) * opts.batch]
                loss, lr = self.train_step(picks)
                losses.append(loss)
                self.batch_in_epoch += 1
                dt = time.perf_counter() - t0
                trained, train_seconds = trained + len(picks), train_seconds + dt
                epoch_images, epoch_seconds = epoch_images + len(picks), epoch_seconds + dt
                images_left -= len(picks)
                if self.on_step:
                    self.on_step({"step": self.step, "epoch": self.epoch, "loss": loss, "lr": lr})
                if bar:
                    rate = trained / train_seconds
                    vals_left = (opts.epochs - self.epoch) * (self._val_seconds if self.val_set else 0.0)
                    bar.update(len(picks), eta=max(images_left, 0) / rate + vals_left, loss=float(np.mean(losses)))
                if self._stop.is_set() and self.batch_in_epoch < self.steps_per_epoch:
                    return self._interrupted(bar)
            if bar:
                bar.close()
            val = self.validate() if self.val_set is not None else None
            rate = epoch_images / epoch_seconds if epoch_seconds else 0.0
            self._record(self.epoch + 1, float(np.mean(losses)) if losses else None, val, rate)
            self.epoch, self.batch_in_epoch = self.epoch + 1, 0
            self.save()
            if self._stop.is_set() and self.epoch < opts.epochs:
                return self._interrupted(None)
        export_weights(self.model, self.out)
        # The run is complete and its product written: the resume state (model + optimizer, ~200 MB) has no use left.
        self.ckpt_path.unlink(missing_ok=True)
        log.info("wrote %s: a state dict in the official MiDaS v2.1 small key layout; `run`, `infer` and `eval` "
                 "load it with --weights (announced as non-official weights)", self.out)
        return self._summary(interrupted=False)

    def train_step(self, picks) -> tuple[float, float]:
        """One optimizer step on the training images at `picks` (positions in this epoch's order)."""
        opts = self.opts
        base = self.batch_in_epoch * opts.batch
        examples = []
        for j, pos in enumerate(picks):
            rng = sample_rng(opts.seed, self.epoch, base + j)
            examples.append(make_example(self.train_set.load(int(pos)), opts.size, rng, opts.max_depth))
        images, targets, masks = collate(examples)
        images = images.contiguous(memory_format=torch.channels_last)
        # Report the decoder's rate (--lr); the encoder's is a fixed fraction of it.
        lr = next(g["lr"] for g in self.optimizer.param_groups if g["name"] == "decoder")
        loss = ssi_loss(self.model(images), targets, masks)
        self.optimizer.zero_grad(set_to_none=True)
        if torch.isfinite(loss):
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for g in self.optimizer.param_groups for p in g["params"]], opts.clip)
            self.optimizer.step()
        else:  # never let one broken batch write NaN into the weights; the schedule still advances
            log.warning("step %d: non-finite loss, batch skipped", self.step + 1)
        self.scheduler.step()
        self.step += 1
        return float(loss.detach()), float(lr)

    def validate(self) -> dict:
        assert self.val_set is not None  # called only when there is a validation split
        t0 = time.perf_counter()
        self.model.eval()
        result = evaluate(torch_predictor(self.model, self.opts.eval_size), self.val_set, self.opts.max_depth,
                          progress=self.progress, label="validate")
        set_train_mode(self.model, self.frozen)
        self._val_seconds = time.perf_counter() - t0
        return result

    # -- bookkeeping ---------------------------------------------------------------------------------------------
    def _record(self, epoch: int, loss: float | None, val: dict | None, rate: float) -> None:
        entry = {"epoch": epoch, "loss": loss, "images_per_s": round(rate, 3)}
        if val is not None:
            entry.update({k: val[k] for k in ("images", "abs_rel", "rmse", "delta1", "delta2", "delta3")})
        self.history.append(entry)
        what = "start weights" if epoch == 0 else f"epoch {epoch}/{self.opts.epochs}: loss {loss:.5f}, {rate:.2f} img/s"
        if val is not None:
            log.info("%s, validation:\n%s", what, format_table(val))
        else:
            log.info("%s", what)

    def save(self) -> None:
        t0 = time.perf_counter()
        save_checkpoint(self.ckpt_path, {
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
            "step": self.step, "rng": {"torch": torch.get_rng_state(), "seed": self.opts.seed},
            "args": asdict(self.opts), "train_names": self.train_names, "val_names": self.val_names,
            "history": self.history})
        log.debug("checkpoint %s saved in %.1f s", self.ckpt_path, time.perf_counter() - t0)

    def _interrupted(self, bar: Progress | None) -> dict:
        if bar:
            bar.close()
        self.save()
        log.info("stopped at epoch %d/%d, step %d/%d; checkpoint %s. Continue with the same command plus --resume",
                 self.epoch + 1, self.opts.epochs, self.step, self.total_steps, self.ckpt_path)
        return self._summary(interrupted=True)

    def _summary(self, interrupted: bool) -> dict:
        return {"interrupted": interrupted, "step": self.step, "total_steps": self.total_steps, "epoch": self.epoch,
                "history": self.history, "out": None if interrupted else str(self.out),
                "checkpoint": str(self.ckpt_path)}
