"""Training throughput of a cpt model: tokens/s, useful TFLOP/s, MFU and peak memory per step.

Runs the real training step (:func:`harness.encoders.training.gradcache.contrastive_step`,
AdamW, clipping) on synthetic token ids of a fixed length, so that tokenisation and
data loading do not blur the figure.  Paper-scale shapes need no weights: ``--shape
cpt-text-s`` builds the backbone's architecture (Pythia-410m's config) with random
weights, which trains at exactly the speed of the real thing.

Examples::

    python benchmarks/train_throughput.py                      # micro model on CPU
    python benchmarks/train_throughput.py --shape cpt-text-s --device cuda \\
        --seq-len 128 --batches 256,1024,4096,12288 --chunk-size 256 --compile

MFU counts useful flops only (6 per non-embedding parameter per token plus
attention, PaLM's formula): gradient caching's extra forward pass is overhead, so
at equal hardware speed a cached step shows about 3/4 of the uncached MFU.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

# This checkout's harness, even where another copy is installed (see harness/source_checkout.py).
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

from harness.encoders.model import CptConfig, CptModel
from harness.encoders.training.flops import measured_matmul_tflops, non_embedding_parameters, peak_tflops, step_flops
from harness.encoders.training.gradcache import StepBatch, contrastive_step

SHAPES = {
    # Architectures of the presets' open backbones, for throughput without downloading weights.
    "cpt-text-s": ("gpt_neox", dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                                    intermediate_size=4096, vocab_size=50304, max_position_embeddings=2048)),
    "cpt-text-m": ("gpt_neox", dict(hidden_size=2048, num_hidden_layers=24, num_attention_heads=16,
                                    intermediate_size=8192, vocab_size=50304, max_position_embeddings=2048)),
    "cpt-text-tiny": ("llama", dict(hidden_size=576, num_hidden_layers=30, num_attention_heads=9,
                                    num_key_value_heads=3, intermediate_size=1536, vocab_size=49152,
                                    max_position_embeddings=2048, tie_word_embeddings=True)),
    "cpt-micro": ("llama", dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                intermediate_size=128, vocab_size=259, max_position_embeddings=512)),
}  # fmt: skip


def build(shape: str, device: torch.device, attention: str) -> CptModel:
    from transformers import AutoConfig, AutoModel

    from harness.encoders.backbones import byte_tokenizer

    model_type, values = SHAPES[shape]
    config = AutoConfig.for_model(model_type, **values)
    config._attn_implementation = attention
    backbone = AutoModel.from_config(config)
    tokenizer = byte_tokenizer()  # only its pad id matters: the batches are synthetic ids
    return CptModel(backbone, tokenizer, CptConfig(backbone=f"shape:{shape}", max_length=4096)).to(device)


def synthetic_batch(pairs: int, seq_len: int, vocab: int, generator: torch.Generator) -> StepBatch:
    def side() -> dict[str, torch.Tensor]:
        ids = torch.randint(0, vocab, (pairs, seq_len), generator=generator)
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}

    return StepBatch(queries=side(), documents=side())


def _header(
    args: argparse.Namespace,
    model: CptModel,
    precision: str,
    device: torch.device,
    sheet: float | None,
    measured: float,
) -> None:
    print(
        f"shape {args.shape}: {non_embedding_parameters(model.backbone) / 1e6:.1f}M non-embedding parameters, "
        f"seq {args.seq_len}, {precision}, attention {args.attention}, compile {args.compile}, device {device}"
        + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "")
    )
    print(f"peak: data sheet {sheet or 'n/a'} TFLOP/s, measured matmul {measured:.1f} TFLOP/s")
    print(f"{'pairs':>7} {'chunk':>6} {'s/step':>8} {'tokens/s':>11} {'TFLOP/s':>8} {'MFU sheet':>9} "
          f"{'MFU meas.':>9} {'peak mem GiB':>12}", flush=True)  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="cpt-micro")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--batches", default="64", help="comma-separated global batch sizes (pairs)")
    parser.add_argument("--chunk-size", type=int, help="pairs per chunk; gradient caching when below the batch")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per batch size (after one warm-up)")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--attention", default="sdpa", help="attention implementation (sdpa, eager, ...)")
    parser.add_argument("--precision", choices=("bf16", "fp32"), default=None, help="default: bf16 on CUDA")
    parser.add_argument("--peak-tflops", type=float, help="override the data-sheet peak")
    parser.add_argument("--no-header", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    device = torch.device(args.device)
    batches = [int(b) for b in args.batches.split(",")]
    if device.type == "cpu" and len(batches) > 1:
        # A process's peak RSS only grows, so each CPU batch size is measured in a fresh process.
        for index, pairs in enumerate(batches):
            argv = list(sys.argv[1:])
            position = argv.index("--batches")
            argv[position + 1] = str(pairs)
            subprocess.run([sys.executable, __file__, *argv, *(["--no-header"] if index else [])], check=True)
        return 0
    torch.manual_seed(0)
    model = build(args.shape, device, args.attention)
    model.train()
    if args.compile:
        model.backbone.compile(dynamic=False)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=device.type == "cuda" or None)
    precision = args.precision or ("bf16" if device.type == "cuda" else "fp32")
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if precision == "bf16" else None
    sheet = peak_tflops(device, args.peak_tflops)
    measured = measured_matmul_tflops(device)
    generator = torch.Generator().manual_seed(0)
    if not args.no_header:
        _header(args, model, precision, device, sheet, measured)
    for pairs in batches:
        batch = synthetic_batch(pairs, args.seq_len, model.backbone.config.vocab_size, generator)
        lengths = [args.seq_len] * (2 * pairs)
        kwargs = {"chunk_size": args.chunk_size}
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
        seconds = sorted(times)[len(times) // 2]
        tflops = step_flops(model.backbone, lengths) / seconds / 1e12
        if device.type == "cuda":
            memory = torch.cuda.max_memory_allocated(device) / 2**30
        else:
            memory = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        chunk = args.chunk_size if args.chunk_size and args.chunk_size < pairs else "-"
        mfu_sheet = f"{tflops / sheet:.1%}" if sheet else "n/a"
        print(
            f"{pairs:>7} {chunk!s:>6} {seconds:>8.3f} {sum(lengths) / seconds:>11.0f} {tflops:>8.2f} "
            f"{mfu_sheet:>9} {tflops / measured:>9.1%} {memory:>12.2f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
