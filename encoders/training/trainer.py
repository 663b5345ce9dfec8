"""Contrastive pre-training of a cpt model: the loop behind ``harness train``.

One process or many (torchrun): every rank takes an equal shard of each global
batch, and the loss spans the global batch (see :mod:`.distributed`); the model is
whole on every rank (``--sharding none``) or sharded across them with FSDP2
(``--sharding fsdp``, the default under torchrun; :mod:`.sharding`), whose
checkpoints are ``torch.distributed.checkpoint``'s, each rank writing its part, and
whose final model is exported consolidated.  Large batches go through gradient caching
(:mod:`.gradcache`).  AdamW with linear warm-up and cosine decay, gradient
clipping, bf16 autocast on GPUs.  Checkpoints hold everything a resumed run needs
to continue bit for bit: weights, optimiser moments, RNG state; the learning rate
and the data order are functions of the step number.  ``--init`` fine-tunes a trained
model instead of a bare backbone (:mod:`.init_from`).
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from harness.encoders.checkpoint import (
    latest_checkpoint,
    load_model,
    load_training_state,
    save_model,
    save_training_checkpoint,
)
from harness.encoders.model import CptConfig, CptModel
from harness.encoders.presets import PRESETS
from harness.encoders.training.distributed import barrier, broadcast_parameters, shutdown_world
from harness.encoders.training.flops import peak_tflops, step_flops
from harness.encoders.training.gradcache import StepBatch, contrastive_step
from harness.encoders.training.init_from import InitCheckpoint, check_compatible, resolve_init
from harness.encoders.training.memory_plan import plan_memory
from harness.encoders.training.pair_store import open_pairs
from harness.encoders.training.pairs import Pair
from harness.encoders.training.schedule import PairOrder, learning_rate
from harness.encoders.training.sharding import (
    SHARDINGS,
    full_state_dict,
    is_sharded_checkpoint,
    load_sharded_checkpoint,
    resolve_sharding,
    save_sharded_checkpoint,
    shard_model,
)
from harness.errors import HarnessError, UsageError, one_line
from harness.running.world import World, current_world

LOG_FILE = "train_log.jsonl"
SETTINGS_FILE = "train_settings.json"


@dataclass
class TrainSettings:
    """What ``harness train`` was asked to do; saved in the run folder so a resume can check it."""

    pairs: str
    out: str
    preset: str | None = None
    backbone: str | None = None
    """Overrides the preset's backbone (a local copy of the hub model, say)."""
    init_checkpoint: str | None = None
    """``--init``: start from a trained cpt model instead of a bare backbone (fine-tuning); recorded by content."""
    steps: int = 100
    batch_size: int = 32
    """Pairs per global batch (all ranks together): the paper's main lever."""
    chunk_size: int | None = None
    """Pairs per forward chunk; smaller than the per-rank batch turns on gradient caching."""
    lr: float = 2e-5
    warmup_steps: int | None = None
    final_lr_ratio: float = 0.1
    weight_decay: float = 0.1
    clip: float = 1.0
    max_length: int | None = None
    delimiter_mode: str | None = "text"
    """``text`` or ``special``; ``None``: ``text``, or with ``--init`` the checkpoint's."""
    seed: int = 0
    save_every: int = 100
    keep: int = 2
    eval_task: str | None = None
    eval_every: int = 0
    eval_batch_size: int = 64
    data_dir: str | None = None
    log_every: int = 1
    device: str = "cpu"
    precision: str = "auto"
    """``auto``: bf16 autocast on CUDA, float32 on CPU; or ``bf16`` / ``fp32``."""
    compile: bool = False
    sharding: str | None = None
    """``none`` (every rank holds the whole model) or ``fsdp``; default ``fsdp`` when torchrun starts several ranks."""
    activation_checkpointing: bool = False
    """Recompute each transformer block's activations in the backward pass instead of keeping them."""
    peak_tflops: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    # Settings that may change between an interrupted run and its resumption without changing the result
    # (--init's path among them: the start is compared by the content hashes of _data_identity).
    RESUMABLE_CHANGES = ("steps", "save_every", "keep", "eval_task", "eval_every", "eval_batch_size", "log_every",
                         "data_dir", "device", "peak_tflops", "compile", "activation_checkpointing",
                         "init_checkpoint")  # fmt: skip

    def validate(self) -> None:
        if self.preset is None and self.backbone is None and self.init_checkpoint is None:
            raise UsageError("harness train: give --preset, --backbone or --init")
        if self.preset is not None and self.preset not in PRESETS:
            raise UsageError(f"harness train: unknown preset {self.preset!r}; known: {', '.join(PRESETS)}")
        for name in ("steps", "batch_size", "save_every", "log_every", "keep"):
            if getattr(self, name) < 1:
                raise UsageError(f"harness train: --{name.replace('_', '-')} must be at least 1")
        if self.chunk_size is not None and self.chunk_size < 1:
            raise UsageError("harness train: --chunk-size must be at least 1")
        if self.sharding is not None and self.sharding not in SHARDINGS:
            raise UsageError(f"harness train: --sharding must be none or fsdp, got {self.sharding!r}")
        if self.delimiter_mode not in (None, "text", "special"):
            raise UsageError(f"harness train: --delimiters must be text or special, got {self.delimiter_mode!r}")
        if self.precision not in ("auto", "bf16", "fp32"):
            raise UsageError(f"harness train: --precision must be auto, bf16 or fp32, got {self.precision!r}")


def train(settings: TrainSettings, on_log: Callable[[dict[str, Any]], None] | None = None) -> Path:
    """Run (or resume) training; return the folder of the final model."""
    settings.validate()
    world = current_world()
    try:
        return _Trainer(settings, world, on_log or _print_log).run()
    finally:
        shutdown_world(world)


class _Trainer:
    def __init__(self, settings: TrainSettings, world: World, on_log: Callable[[dict[str, Any]], None]) -> None:
        self.settings = settings
        self.world = world
        self._on_log = on_log
        self.run_dir = Path(settings.out)
        self.device = _device(settings.device, world)
        if settings.batch_size % world.size:
            raise UsageError(f"--batch-size {settings.batch_size} must divide evenly over {world.size} processes")
        self.sharding = resolve_sharding(settings.sharding, world)
        self.init: InitCheckpoint | None = None
        if settings.init_checkpoint:
            self.init = resolve_init(settings.init_checkpoint)
            check_compatible(
                self.init, preset=settings.preset, backbone=settings.backbone, delimiter_mode=settings.delimiter_mode
            )
            settings.delimiter_mode = self.init.config.delimiter_mode
        else:
            settings.delimiter_mode = settings.delimiter_mode or "text"
        self.pairs = open_pairs(settings.pairs)
        self.order = PairOrder(len(self.pairs), settings.batch_size, settings.seed)
        self.autocast = _autocast_factory(settings.precision, self.device)

    def run(self) -> Path:
        settings = self.settings
        resume_from = latest_checkpoint(self.run_dir)
        sharded_resume = resume_from is not None and is_sharded_checkpoint(resume_from)
        if resume_from is not None:
            self._check_same_run()
        if resume_from is not None and not sharded_resume:
            model = load_model(resume_from, device=str(self.device))
        else:  # a fresh start, or shards to load into the sharded model below
            torch.manual_seed(settings.seed)
            model = self._initial_model().to(self.device)
            if self.world.is_main and resume_from is None:
                _write_json(self.run_dir / SETTINGS_FILE, {**_settings_json(settings), **self._data_identity()})
            if resume_from is None and self.init is not None:
                self.on_log({"event": "init", **self.init.identity()})
        model.train()
        broadcast_parameters(model.parameters(), self.world)
        if self.sharding == "fsdp":
            bf16 = settings.precision == "bf16" or (settings.precision == "auto" and self.device.type == "cuda")
            shard_model(model, self.world, bf16=bf16, activation_checkpointing=settings.activation_checkpointing)
        elif settings.activation_checkpointing:
            model.backbone.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        self._check_memory(model)
        optimizer = _optimizer(model, settings)
        step = 0
        if resume_from is not None:
            if sharded_resume:
                state = load_sharded_checkpoint(model, optimizer, resume_from, self.world)
            else:
                state = load_training_state(resume_from, optimizer)
            step = int(state["step"])
            if self.world.is_main:
                _truncate_log(self.run_dir / LOG_FILE, step)
            self.on_log({"event": "resumed", "step": step, "checkpoint": str(resume_from)})
        if settings.compile:
            model.backbone.compile(dynamic=True)  # in place: the module and its state dict keep their names
        peak = peak_tflops(self.device, settings.peak_tflops)
        warmup = settings.warmup_steps if settings.warmup_steps is not None else max(settings.steps // 10, 0)
        # One loader thread reads and tokenises step s+1's batch while step s runs: a batch is a pure function
        # of the step, so prefetching changes nothing but the wait (fast tokenizers release the GIL).
        loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pairs")
        upcoming = loader.submit(self._batch, model, step) if step < settings.steps else None
        try:
            step = self._steps(model, optimizer, step, warmup, peak, loader, upcoming)
        finally:
            loader.shutdown(wait=True, cancel_futures=True)
        final = self.run_dir / "final"
        self._export(model, final)
        self._refresh_report()
        barrier(self.world)
        return final

    def _steps(
        self,
        model: CptModel,
        optimizer: torch.optim.Optimizer,
        step: int,
        warmup: int,
        peak: float | None,
        loader: ThreadPoolExecutor,
        upcoming: Future[StepBatch] | None,
    ) -> int:
        settings = self.settings
        while step < settings.steps:
            lr = learning_rate(
                step, peak=settings.lr, warmup_steps=warmup, total_steps=settings.steps,
                final_ratio=settings.final_lr_ratio,
            )  # fmt: skip
            for group in optimizer.param_groups:
                group["lr"] = lr
            assert upcoming is not None
            batch = upcoming.result()
            upcoming = loader.submit(self._batch, model, step + 1) if step + 1 < settings.steps else None
            started = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            result = contrastive_step(
                model, batch, world=self.world, chunk_size=settings.chunk_size, autocast=self.autocast
            )
            grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), settings.clip))
            optimizer.step()
            _synchronize(self.device)
            seconds = time.perf_counter() - started
            step += 1
            if step % settings.log_every == 0 or step == settings.steps:
                self.on_log(self._record(model, step, lr, result, batch, grad_norm, seconds, peak))
            if step % settings.save_every == 0 or step == settings.steps:
                self._save(model, optimizer, step)
            if settings.eval_task and settings.eval_every and step % settings.eval_every == 0:
                self._evaluate(model, step)
        return step

    def _check_memory(self, model: CptModel) -> None:
        """Log the per-rank memory plan; stop in one line when it cannot fit the device."""
        settings = self.settings
        share = settings.batch_size // self.world.size
        bf16 = settings.precision == "bf16" or (settings.precision == "auto" and self.device.type == "cuda")
        plan = plan_memory(
            model,
            ranks=self.world.size,
            sharded=self.sharding == "fsdp",
            chunk_rows=min(settings.chunk_size or share, share),
            max_length=model.config.max_length,
            bf16=bf16,
            activation_checkpointing=settings.activation_checkpointing,
            device=self.device,
            global_batch=settings.batch_size,
            negatives=len(self.pairs[0].negatives) if len(self.pairs) else 0,
        )
        self.on_log({"event": "memory_plan", "sharding": self.sharding, **plan.record()})
        if plan.device_bytes and plan.total > plan.device_bytes:
            record = plan.record()
            raise UsageError(
                f"harness train: the plan needs {record['total_gib']} GiB per rank (weights {record['weights_gib']}, "
                f"gradients {record['gradients_gib']}, optimizer {record['optimizer_gib']}, activations "
                f"{record['activations_gib']}) but {self.device} has {record['device_gib']} GiB; shard it "
                f"(torchrun, --sharding fsdp), lower --chunk-size or add --activation-checkpointing"
            )

    def _export(self, model: CptModel, final: Path) -> None:
        """The trained model as one consolidated safetensors folder (``harness run --checkpoint`` reads it)."""
        if self.sharding != "fsdp":
            if self.world.is_main:
                save_model(model, final)
            return
        weights = full_state_dict(model)  # every rank takes part; rank 0 receives the whole
        if self.world.is_main:
            whole = self._initial_model()
            whole.load_state_dict(weights)
            save_model(whole, final)

    def on_log(self, record: dict[str, Any]) -> None:
        """Main rank only: append to the run's JSON-lines log and show the record."""
        if not self.world.is_main:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with (self.run_dir / LOG_FILE).open("a", encoding="utf-8") as log:
            log.write(json.dumps(record, sort_keys=True) + "\n")
        self._on_log(record)
        if record.get("event") in ("checkpoint", "eval"):
            self._refresh_report()

    def _refresh_report(self) -> None:
        """Main rank: redraw ``RUN/report.png`` and ``report.html`` (:mod:`.run_report`), so a running run has one.

        A picture must never cost a training run: a failure to draw it is one warning line, and training goes on
        (``harness train report RUN`` draws it again later).
        """
        if not self.world.is_main:
            return
        from harness.encoders.training.run_report import write_report

        try:
            write_report(self.run_dir)
        except Exception as exc:
            print(f"harness: warning: {self.run_dir}: training report not drawn ({type(exc).__name__}: "
                  f"{one_line(exc)}); training goes on", file=sys.stderr, flush=True)  # fmt: skip

    def _initial_model(self) -> CptModel:
        settings = self.settings
        if self.init is not None:  # weights, tokenizer, delimiters and the trained temperature of the checkpoint
            model = load_model(self.init.folder)
            if settings.max_length and settings.max_length != model.config.max_length:
                model.config = CptConfig.from_json({**model.config.to_json(), "max_length": settings.max_length})
            return model
        from harness.encoders.backbones import load_backbone

        preset = PRESETS.get(settings.preset or "")
        source = settings.backbone or (preset.backbone if preset else None)
        assert source is not None
        backbone = load_backbone(source, seed=settings.seed)
        max_length = settings.max_length or (preset.max_length if preset else 512)
        config = CptConfig(
            backbone=source,
            preset=preset.name if preset else None,
            delimiter_mode=settings.delimiter_mode or "text",
            max_length=max_length,
        )
        return CptModel(backbone.model, backbone.tokenizer, config)

    def _batch(self, model: CptModel, step: int) -> StepBatch:
        indices = self.order.batch(step)
        share = len(indices) // self.world.size
        mine = self.pairs.take(indices[self.world.rank * share : (self.world.rank + 1) * share])
        return tokenize_pairs(model, mine)

    def _record(
        self,
        model: CptModel,
        step: int,
        lr: float,
        result: Any,
        batch: StepBatch,
        grad_norm: float,
        seconds: float,
        peak: float | None,
    ) -> dict[str, Any]:
        lengths = torch.cat([side["attention_mask"].sum(dim=1) for side in batch.sides()])
        tokens = float(lengths.sum()) * self.world.size
        flops = step_flops(model.backbone, lengths) * self.world.size
        achieved = flops / seconds / 1e12
        return {
            "step": step,
            "loss": round(result.loss, 6),
            "in_batch_accuracy": round(result.accuracy, 4),
            "temperature_scale": round(float(model.scale().detach()), 4),
            "lr": lr,
            "grad_norm": round(grad_norm, 4) if math.isfinite(grad_norm) else None,
            "seconds": round(seconds, 4),
            "tokens_per_second": round(tokens / seconds, 1),
            "tflops": round(achieved, 6),
            "mfu": round(achieved / (peak * self.world.size), 4) if peak else None,
            "epoch": self.order.position(step - 1)["epoch"],
        }

    def _save(self, model: CptModel, optimizer: torch.optim.Optimizer, step: int) -> None:
        if self.sharding == "fsdp":
            state = {"step": step, "data_position": self.order.position(step), "world_size": self.world.size}
            folder = save_sharded_checkpoint(model, optimizer, self.run_dir, state, self.world, self.settings.keep)
            self.on_log({"event": "checkpoint", "step": step, "path": str(folder)})
            return
        if self.world.is_main:
            state = {"step": step, "data_position": self.order.position(step), "world_size": self.world.size}
            folder = save_training_checkpoint(model, optimizer, self.run_dir, state, keep=self.settings.keep)
            self.on_log({"event": "checkpoint", "step": step, "path": str(folder)})
        barrier(self.world)

    def _evaluate(self, model: CptModel, step: int) -> None:
        """Rank 0 scores the model on the eval task (a sharded model is gathered whole for it first)."""
        evaluated = model
        if self.sharding == "fsdp":
            weights = full_state_dict(model)  # every rank takes part
            if self.world.is_main:
                evaluated = self._initial_model().to(self.device)
                evaluated.load_state_dict(weights)
        if self.world.is_main:
            score = evaluate_on_task(evaluated, self.settings.eval_task or "", self.settings)
            self.on_log({"event": "eval", "step": step, **score})
        barrier(self.world)
        model.train()

    def _data_identity(self) -> dict[str, str]:
        """What the pairs and the start are, by content: a resume on edited pairs would not continue the same run."""
        return {"pairs_fingerprint": self.pairs.fingerprint, **(self.init.identity() if self.init else {})}

    def _check_same_run(self) -> None:
        saved_path = self.run_dir / SETTINGS_FILE
        if not saved_path.is_file():
            return
        saved = json.loads(saved_path.read_text(encoding="utf-8"))
        data = self._data_identity()
        current = {**_settings_json(self.settings), **data}
        self._check_same_start(saved, current)

        def differs(key: str) -> bool:
            if key == "extra" or key in TrainSettings.RESUMABLE_CHANGES or key.startswith("init_"):
                return False
            if key in data and key not in saved:  # a run saved before its pairs were fingerprinted
                return False
            return bool(saved.get(key) != current[key])

        changed = [key for key in current if differs(key)]
        if changed:
            details = ", ".join(f"{key}: {saved.get(key)!r} -> {current[key]!r}" for key in changed)
            raise HarnessError(
                f"{self.run_dir} holds a run with other settings ({details}); resume with the same settings "
                f"or use a new --out"
            )

    def _check_same_start(self, saved: dict[str, Any], current: dict[str, Any]) -> None:
        """A run folder resumes only with the start it was made with: the same ``--init`` weights, or none."""
        keys = ("init_weights_sha256", "init_config_sha256")
        if all(saved.get(key) == current.get(key) for key in keys):
            return
        was, now = saved.get("init_model_folder"), current.get("init_model_folder")
        if was is None:
            raise HarnessError(
                f"{self.run_dir} holds a run that did not start from --init; --init starts a new run: use a new --out"
            )
        sha = str(saved.get("init_weights_sha256", ""))[:12]
        if now is None:
            raise HarnessError(f"{self.run_dir} holds a run fine-tuned from {was} (weights {sha}...); resume it "
                               f"with that --init, or use a new --out")  # fmt: skip
        raise HarnessError(
            f"{self.run_dir} holds a run fine-tuned from {was} (weights {sha}...), not from --init {now} "
            f"(weights {str(current.get('init_weights_sha256', ''))[:12]}...); use a new --out"
        )


def tokenize_pairs(model: CptModel, pairs: list[Pair]) -> StepBatch:
    """Queries as ``[x]``, documents and their hard negatives as ``{y}``."""
    negatives = [negative for pair in pairs for negative in pair.negatives]
    return StepBatch(
        queries=model.tokenize([pair.x for pair in pairs], "query"),
        documents=model.tokenize([pair.y for pair in pairs], "document"),
        negatives=model.tokenize(negatives, "document") if negatives else None,
    )


def evaluate_on_task(model: CptModel, task_ref: str, settings: TrainSettings) -> dict[str, Any]:
    """Evaluate the model being trained on one harness task; returns ``{"task", "metric", "score"}``."""
    from harness.catalog import TaskRef
    from harness.data.locate import DataLocator
    from harness.encoders.cpt_encoder import CptEncoder
    from harness.pluginhost import get_host
    from harness.running.session import EncodingSession

    catalog = get_host().catalog
    ref = TaskRef.parse(task_ref)
    task = catalog.build_task(ref)
    split = ref.split or task.default_split
    files = DataLocator.from_settings(settings.data_dir).resolve(task.dataset_files(split))
    model.eval()
    encoder = CptEncoder("training", model, {"in_training": True}, batch_size=settings.eval_batch_size)
    started = time.perf_counter()
    output = task.evaluate(EncodingSession(encoder, progress=False), files, split)
    return {
        "task": f"{task.name}@{split}",
        "metric": task.main_metric,
        "score": float(output.main_score),
        "seconds": round(time.perf_counter() - started, 2),
    }


def _optimizer(model: CptModel, settings: TrainSettings) -> torch.optim.Optimizer:
    """AdamW; no weight decay on biases, norms, embeddings of delimiters or the temperature."""
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        (no_decay if parameter.ndim < 2 or name == "log_scale" else decay).append(parameter)
    groups = [
        {"params": decay, "weight_decay": settings.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    fused = torch.device(settings.device).type == "cuda"
    return torch.optim.AdamW(groups, lr=settings.lr, betas=(0.9, 0.999), eps=1e-8, fused=fused or None)


def _device(name: str, world: World) -> torch.device:
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UsageError(f"--device {name}: no CUDA device is available")
        index = world.local_rank if world.distributed else (torch.device(name).index or 0)
        torch.cuda.set_device(index)
        return torch.device("cuda", index)
    if name != "cpu":
        raise UsageError(f"unknown device {name!r}; use cpu, cuda or cuda:N")
    return torch.device("cpu")


def _autocast_factory(precision: str, device: torch.device) -> Callable[[], contextlib.AbstractContextManager[Any]]:
    use_bf16 = precision == "bf16" or (precision == "auto" and device.type == "cuda")
    if not use_bf16:
        return contextlib.nullcontext
    return lambda: torch.autocast(device.type, dtype=torch.bfloat16)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _settings_json(settings: TrainSettings) -> dict[str, Any]:
    return asdict(settings)


def _write_json(path: Path, data: Any) -> None:
    from harness.results.files import write_json_atomic

    write_json_atomic(path, data)


def _truncate_log(path: Path, step: int) -> None:
    """Drop log records past the checkpoint a run resumes from: they will be logged again."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line torn by a kill
        if int(record.get("step", 0)) <= step:
            kept.append(line)
    path.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")


def _print_log(record: dict[str, Any]) -> None:
    if "event" in record:
        details = ", ".join(f"{k}={v}" for k, v in record.items() if k != "event")
        print(f"[{record['event']}] {details}", flush=True)
        return
    mfu = f" mfu {record['mfu']:.1%}" if record.get("mfu") is not None else ""
    print(
        f"step {record['step']}: loss {record['loss']:.4f} acc {record['in_batch_accuracy']:.3f} "
        f"scale {record['temperature_scale']:.2f} lr {record['lr']:.2e} "
        f"{record['tokens_per_second']:.0f} tok/s {record['tflops']:.2f} TFLOP/s{mfu}",
        flush=True,
    )
