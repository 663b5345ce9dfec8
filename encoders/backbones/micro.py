"""The ``micro`` backbone: a tiny randomly initialised Llama over a byte-level tokenizer built in code.

It exists so that tests and CPU smoke runs exercise the whole cpt model, training included, with no
files, packages or network at all; the same ``seed`` always gives the same weights.
"""

from __future__ import annotations

import hashlib

import torch
import transformers
from transformers import AutoModel, PreTrainedTokenizerFast

from harness.encoders.backbones.base import Backbone, finish

MICRO = "micro"
BYTE_BOS, BYTE_EOS, BYTE_PAD = "<s>", "</s>", "<pad>"
MICRO_MAX_LENGTH = 512


def byte_tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level tokenizer built in code: id ``b`` is byte ``b`` (0-255), then ``<s>``, ``</s>``, ``<pad>``.

    No merges, so any unicode text round-trips exactly and no vocabulary file is needed.  It is built
    from a ``tokenizers.Tokenizer`` object: in transformers 5 the file-based GPT-2 constructors
    silently produce a one-token tokenizer (see ``shared/MODELS.md``).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    vocab = {symbol: index for index, symbol in enumerate(_byte_alphabet())}
    specials = [BYTE_BOS, BYTE_EOS, BYTE_PAD]
    for token in specials:
        vocab[token] = len(vocab)
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    core.add_special_tokens(specials)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=BYTE_BOS,
        eos_token=BYTE_EOS,
        pad_token=BYTE_PAD,
        model_max_length=MICRO_MAX_LENGTH,
        padding_side="right",
    )
    return tokenizer


def _byte_alphabet() -> list[str]:
    """GPT-2's printable stand-in for each byte value, in byte order (``bytes_to_unicode``)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    symbols: list[str] = []
    shifted = 0
    for byte in range(256):
        if byte in printable:
            symbols.append(chr(byte))
        else:
            symbols.append(chr(256 + shifted))
            shifted += 1
    return symbols


def micro_backbone(seed: int = 0, dtype: torch.dtype = torch.float32) -> Backbone:
    """A randomly initialised tiny Llama (64-d, 2 layers), the same weights for the same ``seed``.

    Initialised inside ``torch.random.fork_rng`` so the caller's global RNG state is left untouched.
    """
    tokenizer = byte_tokenizer()
    config = transformers.LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=MICRO_MAX_LENGTH,
        attention_dropout=0.0,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModel.from_config(config, dtype=torch.float32)
    identity = {
        "source": MICRO,
        "model_id": None,
        "seed": seed,
        "architecture": type(model).__name__,
        "tensors_sha256": _tensors_sha256(model),
        "transformers_version": transformers.__version__,
    }
    return finish(model, tokenizer, MICRO, identity, dtype)


def _tensors_sha256(model: torch.nn.Module) -> str:
    """Hash of the parameters' names and fp32 bytes: random init depends on the transformers version."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().to(torch.float32).contiguous().cpu().numpy().tobytes())
    return digest.hexdigest()
