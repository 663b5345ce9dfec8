"""Training throughput of a cpt model: tokens/s, useful TFLOP/s, MFU and peak memory per step.

Runs the real training step (:func:`harness.encoders.training.gradcache.contrastive_step`,
AdamW, clipping) on synthetic token ids of a fixed length, so that tokenisation and
data loading do not blur the figure.  Paper-scale shapes need no weights: ``--shape
cpt-text-s`` builds the backbone's architecture (Pythia-410m's config) with random
weights, which trains at exactly the speed of the real thing.

Under torchrun every rank builds the same model (same seed), shards it with FSDP2 (``--sharding fsdp``, the
default there; :func:`harness.encoders.training.sharding.shard_model`) and trains on its ``pairs / ranks``
rows of the global batch, the contrastive loss spanning all of them.  Rank 0 prints tokens/s and useful
TFLOP/s over all ranks, MFU against ``ranks`` x the peak, and every rank's peak memory (CUDA's
``max_memory_allocated``, or the process's peak RSS on a CPU) beside the memory plan's figure for a rank.

``--plan`` measures nothing: it prints what :func:`harness.encoders.training.memory_plan.plan_memory` computes
for cpt-text-s/m/l at the paper's batch sizes on 8 x 80 GiB GPUs with FSDP and bf16 (the largest chunk that
fits, with and without activation checkpointing, and the memory per rank there), from architectures built on
the ``meta`` device (no weights allocated).

Examples::

    python benchmarks/train_throughput.py                      # micro model on CPU
    python benchmarks/train_throughput.py --shape cpt-text-s --device cuda \\
        --seq-len 128 --batches 256,1024,4096,12288 --chunk-size 256 --compile
    python -m torch.distributed.run --standalone --nproc-per-node 2 benchmarks/train_throughput.py --sharding fsdp
    python benchmarks/train_throughput.py --plan               # computed, not measured

MFU counts useful flops only (6 per non-embedding parameter per token plus
attention, PaLM's formula): gradient caching's extra forward pass is overhead, so
at equal hardware speed a cached step shows about 3/4 of the uncached MFU.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

# This checkout's harness, even where another copy is installed (see harness/source_checkout.py).
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

from harness.encoders.model import CptConfig, CptModel
from harness.encoders.presets import PRESETS
from harness.encoders.training.flops import measured_matmul_tflops, non_embedding_parameters, peak_tflops, step_flops
from harness.encoders.training.gradcache import StepBatch, contrastive_step
from harness.encoders.training.memory_plan import GiB, MemoryPlan, plan_memory
from harness.encoders.training.sharding import SHARDINGS, resolve_sharding, shard_model
from harness.running.world import World, current_world, leave_world

SHAPES = {
    # Architectures of the presets' open backbones, for throughput without downloading weights.
    "cpt-text-s": ("gpt_neox", dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                                    intermediate_size=4096, vocab_size=50304, max_position_embeddings=2048)),
    "cpt-text-m": ("gpt_neox", dict(hidden_size=2048, num_hidden_layers=24, num_attention_heads=16,
                                    intermediate_size=8192, vocab_size=50304, max_position_embeddings=2048)),
    "cpt-text-l": ("gpt_neox", dict(hidden_size=4096, num_hidden_layers=32, num_attention_heads=32,
                                    intermediate_size=16384, vocab_size=50432, max_position_embeddings=2048)),
    "cpt-text-tiny": ("llama", dict(hidden_size=576, num_hidden_layers=30, num_attention_heads=9,
                                    num_key_value_heads=3, intermediate_size=1536, vocab_size=49152,
                                    max_position_embeddings=2048, tie_word_embeddings=True)),
    "cpt-micro": ("llama", dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                intermediate_size=128, vocab_size=259, max_position_embeddings=512)),
}  # fmt: skip


def build(shape: str, device: torch.device, attention: str) -> CptModel:
    """The shape's architecture with random weights on ``device``; on ``meta`` no memory is allocated."""
    from transformers import AutoConfig, AutoModel

    from harness.encoders.backbones import byte_tokenizer

    model_type, values = SHAPES[shape]
    config = AutoConfig.for_model(model_type, **values)
    config._attn_implementation = attention
    tokenizer = byte_tokenizer()  # only its pad id matters: the batches are synthetic ids
    if device.type == "meta":  # shapes and parameter counts for the memory plan, without 6.9B floats
        with torch.device("meta"):
            return CptModel(AutoModel.from_config(config), tokenizer, CptConfig(backbone=f"shape:{shape}"))
    backbone = AutoModel.from_config(config)
    return CptModel(backbone, tokenizer, CptConfig(backbone=f"shape:{shape}", max_length=4096)).to(device)


def synthetic_batch(pairs: int, seq_len: int, vocab: int, generator: torch.Generator) -> StepBatch:
    def side() -> dict[str, torch.Tensor]:
        ids = torch.randint(0, vocab, (pairs, seq_len), generator=generator)
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}

    return StepBatch(queries=side(), documents=side())


def rank_rows(batch: StepBatch, world: World) -> StepBatch:
    """This rank's contiguous ``pairs / ranks`` rows of the global batch (every rank drew the same one)."""

    def part(side: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        share = len(side["input_ids"]) // world.size
        return {key: value[world.rank * share : (world.rank + 1) * share] for key, value in side.items()}

    return StepBatch(queries=part(batch.queries), documents=part(batch.documents))


def gather(value: Any, world: World) -> list[Any]:
    """Every rank's ``value`` (a few picklable figures) in rank order, so that rank 0 can print them all."""
    if not world.distributed:
        return [value]
    import torch.distributed as dist

    values: list[Any] = [None] * world.size
    dist.all_gather_object(values, value)
    return values


def peak_memory_gib(device: torch.device) -> float:
    """This process's high-water mark: CUDA's allocated bytes, or the peak RSS on a CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / GiB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux reports KiB


def _header(
    args: argparse.Namespace,
    parameters: int,
    precision: str,
    device: torch.device,
    sheet: float | None,
    measured: float,
    world: World,
    sharding: str,
) -> None:
    print(
        f"shape {args.shape}: {parameters / 1e6:.1f}M non-embedding parameters, "
        f"seq {args.seq_len}, {precision}, attention {args.attention}, compile {args.compile}, device {device}"
        + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "")
    )
    print(
        f"ranks {world.size}, sharding {sharding}, activation checkpointing {args.activation_checkpointing}: "
        f"tokens/s and TFLOP/s over all ranks, MFU against {world.size} x the peak, peak mem of each rank "
        f"({'/'.join(f'r{rank}' for rank in range(world.size))}), plan GiB = memory_plan's estimate per rank"
    )
    over = f" (sum over {world.size} ranks)" if world.distributed else ""
    print(f"peak: data sheet {sheet or 'n/a'} TFLOP/s per device, measured matmul {measured:.1f} TFLOP/s{over}")
    print(f"{'pairs':>7} {'chunk':>6} {'s/step':>8} {'tokens/s':>11} {'TFLOP/s':>8} {'MFU sheet':>9} "
          f"{'MFU meas.':>9} {'peak mem GiB':>12} {'plan GiB':>8}", flush=True)  # fmt: skip


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="cpt-micro")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--batches", default="64", help="comma-separated global batch sizes (pairs)")
    parser.add_argument(
        "--chunk-size", type=int, help="pairs per chunk on each rank; gradient caching when below the rank's share"
    )
    parser.add_argument("--steps", type=int, default=3, help="timed steps per batch size (after one warm-up)")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--attention", default="sdpa", help="attention implementation (sdpa, eager, ...)")
    parser.add_argument("--precision", choices=("bf16", "fp32"), default=None, help="default: bf16 on CUDA")
    parser.add_argument("--peak-tflops", type=float, help="override the data-sheet peak")
    parser.add_argument("--sharding", choices=SHARDINGS, help="default: fsdp under torchrun, none in one process")
    parser.add_argument("--activation-checkpointing", action="store_true", help="recompute each block's activations")
    parser.add_argument("--plan", action="store_true", help="print the computed memory plan of cpt-text-s/m/l")
    parser.add_argument("--plan-ranks", type=int, default=8, help="GPUs for --plan")
    parser.add_argument("--plan-device-gib", type=float, default=80.0, help="memory per GPU for --plan, GiB")
    parser.add_argument("--no-header", action="store_true", help=argparse.SUPPRESS)
    return parser


def main() -> int:
    parser = _parser()
    args = parser.parse_args()
    if args.plan:
        if int(os.environ.get("RANK", "0")) == 0:  # pure arithmetic: under torchrun, rank 0 alone prints it
            print_plan(args.plan_ranks, int(args.plan_device_gib * GiB))
        return 0
    world = current_world()
    finished = False
    try:
        sharding = _checked_sharding(parser, args, world)
        code = measure(args, world, sharding)
        finished = True
        return code
    finally:
        leave_world(finished)


def _checked_sharding(parser: argparse.ArgumentParser, args: argparse.Namespace, world: World) -> str:
    """``--sharding`` resolved for this world; a setting the world cannot run stops every rank (rank 0 says why)."""
    sharding = resolve_sharding(args.sharding, world)
    problem = None
    if sharding == "fsdp" and not world.distributed:
        if "TORCHELASTIC_RUN_ID" in os.environ:  # torchrun with one process: FSDP2 on one device, for its overhead
            _join_single_process_group()
        else:
            problem = "--sharding fsdp shards over torchrun's processes: run under python -m torch.distributed.run"
    uneven = [pairs for pairs in _batches(args) if pairs % world.size]
    if uneven:
        problem = f"--batches {uneven[0]} does not split evenly over {world.size} ranks"
    if problem is not None:
        if world.is_main:
            parser.error(problem)
        sys.exit(2)
    return sharding


def _join_single_process_group() -> None:
    """A process group of one (``torchrun --nproc-per-node 1``): FSDP2 needs one, the harness's World does not.

    :func:`current_world` joins no group for a single process (nothing to gather), so the one-GPU FSDP figure
    (what sharding costs before there is anything to shard over) needs this group made here;
    :func:`leave_world` leaves it.
    """
    import torch.distributed as dist

    if not dist.is_initialized():
        backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend, rank=0, world_size=1)


def _batches(args: argparse.Namespace) -> list[int]:
    return [int(b) for b in args.batches.split(",")]


def _device(name: str, world: World) -> torch.device:
    """``cuda`` is this rank's GPU under torchrun (:func:`current_world` made it the current one)."""
    device = torch.device(name)
    if device.type == "cuda" and world.distributed:
        return torch.device("cuda", world.local_rank % torch.cuda.device_count())
    return device


def measure(args: argparse.Namespace, world: World, sharding: str) -> int:
    """Time real training steps at each batch size; rank 0 prints one row per size."""
    device = _device(args.device, world)
    batches = _batches(args)
    if device.type == "cpu" and len(batches) > 1 and not world.distributed:
        # A process's peak RSS only grows, so each CPU batch size is measured in a fresh process.
        for index, pairs in enumerate(batches):
            argv = list(sys.argv[1:])
            position = argv.index("--batches")
            argv[position + 1] = str(pairs)
            subprocess.run([sys.executable, __file__, *argv, *(["--no-header"] if index else [])], check=True)
        return 0
    torch.manual_seed(0)  # every rank builds the same model
    model = build(args.shape, device, args.attention)
    model.train()
    parameters = non_embedding_parameters(model.backbone)
    precision = args.precision or ("bf16" if device.type == "cuda" else "fp32")
    bf16 = precision == "bf16"
    if sharding == "fsdp":
        shard_model(model, world, bf16=bf16, activation_checkpointing=args.activation_checkpointing)
    elif args.activation_checkpointing:
        model.backbone.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if args.compile:
        model.backbone.compile(dynamic=False)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=device.type == "cuda" or None)
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if bf16 else None
    sheet = peak_tflops(device, args.peak_tflops)
    measured = sum(gather(measured_matmul_tflops(device), world))  # every rank at once: what they share
    generator = torch.Generator().manual_seed(0)  # the same global batch on every rank
    if world.is_main and not args.no_header:
        _header(args, parameters, precision, device, sheet, measured, world, sharding)
        if world.distributed and device.type == "cpu" and len(batches) > 1:
            print("(peak RSS only grows: each row's is the highest so far; launch once per batch size for each's)")
    for pairs in batches:
        share = pairs // world.size
        batch = rank_rows(synthetic_batch(pairs, args.seq_len, model.backbone.config.vocab_size, generator), world)
        lengths = [args.seq_len] * (2 * pairs)  # the global batch's
        kwargs: dict[str, Any] = {"world": world, "chunk_size": args.chunk_size}
        if autocast is not None:
            kwargs["autocast"] = autocast
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        times = []
        for step in range(args.steps + 1):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            started = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            contrastive_step(model, batch, **kwargs)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if step > 0:  # the first step warms up kernels (and compiles)
                times.append(time.perf_counter() - started)
        figures = gather((sorted(times)[len(times) // 2], peak_memory_gib(device)), world)
        if not world.is_main:
            continue
        seconds = max(median for median, _ in figures)  # the slowest rank sets the pace
        tflops = step_flops(model.backbone, lengths) / seconds / 1e12
        plan = plan_memory(
            model,
            ranks=world.size,
            sharded=sharding == "fsdp",
            chunk_rows=min(args.chunk_size or share, share),
            max_length=args.seq_len,
            bf16=bf16,
            activation_checkpointing=args.activation_checkpointing,
            device=device,
            global_batch=pairs,
        )
        chunk = args.chunk_size if args.chunk_size and args.chunk_size < share else "-"
        mfu_sheet = f"{tflops / (sheet * world.size):.1%}" if sheet else "n/a"
        memory = "/".join(f"{peak:.2f}" for _, peak in figures)
        print(
            f"{pairs:>7} {chunk!s:>6} {seconds:>8.3f} {sum(lengths) / seconds:>11.0f} {tflops:>8.2f} "
            f"{mfu_sheet:>9} {tflops / measured:>9.1%} {memory:>12} {plan.total / GiB:>8.2f}",
            flush=True,
        )
    return 0


PLAN_SHAPES = ("cpt-text-s", "cpt-text-m", "cpt-text-l")


def chunk_candidates(share: int) -> list[int]:
    """Chunk sizes worth running, largest first: the rank's whole share, multiples of 8, powers of two."""
    sizes = {share, *range(8, share + 1, 8), *(1 << k for k in range(share.bit_length()))}
    return sorted((size for size in sizes if size <= share), reverse=True)


def largest_fitting_chunk(
    model: CptModel, *, ranks: int, share: int, max_length: int, checkpointing: bool, device_bytes: int
) -> tuple[int | None, MemoryPlan]:
    """The largest candidate chunk whose FSDP bf16 plan fits ``device_bytes``, and its plan (None: not even 1)."""
    plan = None
    for chunk in chunk_candidates(share):  # activations grow with the chunk: the first fit is the largest
        plan = plan_memory(
            model,
            ranks=ranks,
            sharded=True,
            chunk_rows=chunk,
            max_length=max_length,
            bf16=True,
            activation_checkpointing=checkpointing,
            device=torch.device("meta"),
            global_batch=share * ranks,
        )
        plan = dataclasses.replace(plan, device_bytes=device_bytes)  # the planned GPU's, not this machine's
        if plan.total <= device_bytes:
            return chunk, plan
    assert plan is not None
    return None, plan


def print_plan(ranks: int, device_bytes: int) -> None:
    """The memory plan of the paper's text models at the paper's batch sizes: computed, nothing run."""
    print(
        f"== computed on paper, not measured: memory_plan.plan_memory per rank for {ranks} GPUs x "
        f"{device_bytes / GiB:g} GiB, FSDP, bf16 compute, fp32 master weights, gradients and AdamW moments"
    )
    print("chunk: the largest (the rank's whole share*, a multiple of 8 or a power of two) whose plan fits;")
    print("pow2: the largest power of two that fits; the memory columns: GiB per rank at 'chunk'")
    print(f"{'shape':<11} {'params':>7} {'batch':>6} {'/rank':>6} {'seq':>4} {'act.ckpt':>8} {'chunk':>6} {'pow2':>5} "
          f"{'weights':>8} {'grads':>6} {'AdamW':>6} {'block':>6} {'activ.':>7} {'loss':>5} {'total GiB':>9}")  # fmt: skip
    for shape in PLAN_SHAPES:
        preset = PRESETS[shape]
        model = build(shape, torch.device("meta"), "sdpa")
        share = preset.paper_batch_size // ranks
        for checkpointing in (False, True):
            chunk, plan = largest_fitting_chunk(
                model,
                ranks=ranks,
                share=share,
                max_length=preset.max_length,
                checkpointing=checkpointing,
                device_bytes=device_bytes,
            )
            shown = "none" if chunk is None else f"{chunk}*" if chunk == share else str(chunk)
            power = "-" if chunk is None else 1 << (chunk.bit_length() - 1)  # fits too: the plan grows with chunks
            gib = plan.record()
            print(
                f"{shape:<11} {plan.parameters / 1e9:>6.2f}B {preset.paper_batch_size:>6} {share:>6} "
                f"{preset.max_length:>4} {'yes' if checkpointing else 'no':>8} {shown:>6} {power!s:>5} {gib['weights_gib']:>8.2f} "
                f"{gib['gradients_gib']:>6.2f} {gib['optimizer_gib']:>6.2f} {gib['gathered_block_gib']:>6.2f} "
                f"{gib['activations_gib']:>7.2f} {gib['loss_gib']:>5.2f} {gib['total_gib']:>9.2f}",
                flush=True,
            )
    print("* the rank's whole share fits: no gradient caching needed; 'none': not even one pair per chunk fits")
    print("loss: over the global batch, on every rank (gathered embeddings, similarity logits, softmax, gradients)")
    print("not in the plan: the gathered embedding table, the next block prefetched, CUDA workspaces and")
    print("fragmentation; a chunk at the limit needs a margin")


if __name__ == "__main__":
    sys.exit(main())
