"""Generate a tiny, LLM-shaped Hugging Face model directory with deterministic random weights.

Usage: python examples/tiny-llm/make_model.py [OUT_DIR]   (default: model/ next to this script)

The layout mirrors what `transformers` writes for a sharded Llama checkpoint (config, generation config,
tokenizer files, two safetensors shards plus their index) so packing tools see a realistic directory. The
weights are random: the model produces gibberish and exists only to exercise tooling.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from safetensors.numpy import save_file

HERE = Path(__file__).resolve().parent

HIDDEN_SIZE = 64
INTERMEDIATE_SIZE = 172
NUM_LAYERS = 2
NUM_HEADS = 4
NUM_KV_HEADS = 4
VOCAB_SIZE = 1024
MAX_POSITIONS = 256
DTYPE = np.float32
TORCH_DTYPE = "float32"
INIT_STD = 0.02
SPECIAL_TOKENS = ["<unk>", "<s>", "</s>"]  # ids 0, 1, 2 as in Llama
UNK_ID, BOS_ID, EOS_ID = 0, 1, 2
NUM_SHARDS = 2

# Fixed text to learn BPE merges from, so the tokenizer is deterministic and vaguely English-shaped.
CORPUS = """
A model pack bundles the weights, the configuration and the tokenizer of a machine learning model into a
single artifact that any registry can store. The artifact has a manifest, a config and one layer for every
file, and each layer is addressed by the digest of its content. Pushing the same model twice uploads nothing
new, and pulling by digest always returns exactly the bytes that were packed. This tiny model has random
weights: it cannot write, translate or answer questions, but it has the shape of a real language model, with
embeddings, attention, feed forward layers, a final norm and an output head, so that tools which read, pack,
push, pull and verify models can be tested quickly without downloading gigabytes of data from the internet.
"""


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map, used by the ByteLevel pre-tokenizer."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    mapping = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


def train_bpe(num_merges: int) -> tuple[list[str], list[tuple[str, str]]]:
    """Learn byte-level BPE merges on CORPUS; returns (base alphabet, merges) in creation order."""
    byte_map = bytes_to_unicode()
    alphabet = [byte_map[b] for b in range(256)]
    # ByteLevel pre-tokenization marks a leading space with "Ġ" (byte 0x20 mapped), like GPT-2.
    words = Counter("".join(byte_map[b] for b in (" " + w).encode("utf-8")) for w in CORPUS.split())
    splits: dict[str, list[str]] = {w: list(w) for w in words}
    known = set(alphabet)
    merges: list[tuple[str, str]] = []
    while len(merges) < num_merges:
        pairs: Counter[tuple[str, str]] = Counter()
        for word, count in words.items():
            parts = splits[word]
            for a, b in pairwise(parts):
                if a + b not in known:
                    pairs[(a, b)] += count
        if not pairs:
            break
        # Highest count wins; ties broken lexicographically so the result never depends on dict order.
        best = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        merges.append(best)
        known.add(best[0] + best[1])
        for word, parts in splits.items():
            merged: list[str] = []
            i = 0
            while i < len(parts):
                if i + 1 < len(parts) and (parts[i], parts[i + 1]) == best:
                    merged.append(parts[i] + parts[i + 1])
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            splits[word] = merged
    # The corpus runs out of pairs before the vocabulary is full; pad with letter bigrams, which are valid
    # merges because both halves are already in the vocabulary.
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    candidates = [(a, b) for a in ["Ġ", *letters] for b in letters]
    for a, b in candidates:
        if len(merges) >= num_merges:
            break
        if a + b not in known:
            merges.append((a, b))
            known.add(a + b)
    if len(merges) < num_merges:
        raise RuntimeError(f"could only build {len(merges)} of {num_merges} merges")
    return alphabet, merges


def build_tokenizer() -> dict[str, Any]:
    alphabet, merges = train_bpe(VOCAB_SIZE - len(SPECIAL_TOKENS) - 256)
    tokens = SPECIAL_TOKENS + alphabet + [a + b for a, b in merges]
    vocab = {token: i for i, token in enumerate(tokens)}
    assert len(vocab) == VOCAB_SIZE, "duplicate token in vocabulary"
    added_tokens = [
        {
            "id": vocab[t],
            "content": t,
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": True,
        }
        for t in SPECIAL_TOKENS
    ]
    bos = SPECIAL_TOKENS[BOS_ID]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added_tokens,
        "normalizer": None,
        "pre_tokenizer": {
            "type": "ByteLevel",
            "add_prefix_space": False,
            "trim_offsets": True,
            "use_regex": True,
        },
        # Prepend <s> the way Llama tokenizers do.
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [
                {"SpecialToken": {"id": bos, "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
            ],
            "pair": [
                {"SpecialToken": {"id": bos, "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": bos, "type_id": 1}},
                {"Sequence": {"id": "B", "type_id": 1}},
            ],
            "special_tokens": {bos: {"id": bos, "ids": [BOS_ID], "tokens": [bos]}},
        },
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": vocab,
            # "a b" strings are the merge format every `tokenizers` release can read.
            "merges": [f"{a} {b}" for a, b in merges],
        },
    }


def build_weights() -> dict[str, np.ndarray]:
    """Llama parameter names and shapes ([out_features, in_features], as torch.nn.Linear stores them)."""
    head_dim = HIDDEN_SIZE // NUM_HEADS
    h, kv, ff = HIDDEN_SIZE, NUM_KV_HEADS * head_dim, INTERMEDIATE_SIZE
    shapes: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (VOCAB_SIZE, h)}
    for i in range(NUM_LAYERS):
        p = f"model.layers.{i}"
        shapes |= {
            f"{p}.input_layernorm.weight": (h,),
            f"{p}.self_attn.q_proj.weight": (h, h),
            f"{p}.self_attn.k_proj.weight": (kv, h),
            f"{p}.self_attn.v_proj.weight": (kv, h),
            f"{p}.self_attn.o_proj.weight": (h, h),
            f"{p}.post_attention_layernorm.weight": (h,),
            f"{p}.mlp.gate_proj.weight": (ff, h),
            f"{p}.mlp.up_proj.weight": (ff, h),
            f"{p}.mlp.down_proj.weight": (h, ff),
        }
    shapes |= {"model.norm.weight": (h,), "lm_head.weight": (VOCAB_SIZE, h)}

    # One generator consumed in a fixed order: same seed + same numpy -> same bytes.
    rng = np.random.default_rng(0)
    weights: dict[str, np.ndarray] = {}
    for name, shape in shapes.items():
        if name.endswith("norm.weight"):
            weights[name] = np.ones(shape, dtype=DTYPE)  # RMSNorm scales start at 1
        else:
            weights[name] = (rng.standard_normal(shape, dtype=np.float32) * INIT_STD).astype(DTYPE)
    return weights


def shard_of(name: str) -> int:
    """Embeddings and the first half of the layers go to shard 1, the rest (and the head) to shard 2."""
    if name.startswith("model.layers."):
        return 1 if int(name.split(".")[2]) < NUM_LAYERS // 2 else 2
    return 1 if name == "model.embed_tokens.weight" else 2


def human_params(n: int) -> str:
    for unit, scale in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f}".rstrip("0").rstrip(".") + unit
    return str(n)


def write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def readme(num_params: int, total_size: int) -> str:
    return f"""# tiny-llm 0.1.0

**Random weights, for testing only.** This is a {human_params(num_params)}-parameter ({num_params:,}),
Llama-shaped causal language model whose weights are drawn from `numpy.random.default_rng(0)` (normal,
std {INIT_STD}; norm scales set to 1). It produces meaningless text. It exists so that packaging, registry and
download tooling can be exercised against a realistic Hugging Face directory layout in well under a second.

| property | value |
|---|---|
| architecture | `LlamaForCausalLM` |
| hidden size / intermediate size | {HIDDEN_SIZE} / {INTERMEDIATE_SIZE} |
| layers / attention heads / KV heads | {NUM_LAYERS} / {NUM_HEADS} / {NUM_KV_HEADS} |
| vocabulary | {VOCAB_SIZE} (byte-level BPE) |
| context length | {MAX_POSITIONS} |
| dtype | {TORCH_DTYPE} |
| weights | {NUM_SHARDS} safetensors shards, {total_size:,} bytes of tensor data |

The tokenizer is a byte-level BPE whose merges were learned from one paragraph of text, padded with letter
bigrams up to the vocabulary size; it is valid but not useful.

## Loading

```python
from transformers import AutoModelForCausalLM, AutoTokenizer

model = AutoModelForCausalLM.from_pretrained("path/to/this/dir")
tokenizer = AutoTokenizer.from_pretrained("path/to/this/dir")
```

## Regenerating

`python examples/tiny-llm/make_model.py OUT_DIR` rewrites every file byte for byte (given the same numpy and
safetensors versions).

## License

Apache-2.0, see `LICENSE`.
"""


LICENSE_TEXT = """\
Copyright 2024 modelpack examples

Licensed under the Apache License, Version 2.0 (the "License");
you may not use these files except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
"""


def main(argv: list[str]) -> int:
    out_dir = Path(argv[0]) if argv else HERE / "model"
    out_dir.mkdir(parents=True, exist_ok=True)

    config = {
        "architectures": ["LlamaForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": BOS_ID,
        "eos_token_id": EOS_ID,
        "head_dim": HIDDEN_SIZE // NUM_HEADS,
        "hidden_act": "silu",
        "hidden_size": HIDDEN_SIZE,
        "initializer_range": INIT_STD,
        "intermediate_size": INTERMEDIATE_SIZE,
        "max_position_embeddings": MAX_POSITIONS,
        "mlp_bias": False,
        "model_type": "llama",
        "num_attention_heads": NUM_HEADS,
        "num_hidden_layers": NUM_LAYERS,
        "num_key_value_heads": NUM_KV_HEADS,
        "pretraining_tp": 1,
        "rms_norm_eps": 1e-06,
        "rope_scaling": None,
        "rope_theta": 10000.0,
        "tie_word_embeddings": False,
        "torch_dtype": TORCH_DTYPE,
        "transformers_version": "4.44.2",
        "use_cache": True,
        "vocab_size": VOCAB_SIZE,
    }
    write_json(out_dir / "config.json", config)
    write_json(
        out_dir / "generation_config.json",
        {
            "_from_model_config": True,
            "bos_token_id": BOS_ID,
            "eos_token_id": EOS_ID,
            "transformers_version": "4.44.2",
        },
    )

    write_json(out_dir / "tokenizer.json", build_tokenizer())
    unk, bos, eos = SPECIAL_TOKENS
    write_json(
        out_dir / "tokenizer_config.json",
        {
            "add_bos_token": True,
            "add_eos_token": False,
            "added_tokens_decoder": {
                str(i): {
                    "content": t,
                    "lstrip": False,
                    "normalized": False,
                    "rstrip": False,
                    "single_word": False,
                    "special": True,
                }
                for i, t in enumerate(SPECIAL_TOKENS)
            },
            "bos_token": bos,
            "clean_up_tokenization_spaces": False,
            "eos_token": eos,
            "model_max_length": MAX_POSITIONS,
            "pad_token": None,
            "tokenizer_class": "PreTrainedTokenizerFast",
            "unk_token": unk,
        },
    )
    write_json(out_dir / "special_tokens_map.json", {"bos_token": bos, "eos_token": eos, "unk_token": unk})

    weights = build_weights()
    num_params = sum(int(t.size) for t in weights.values())
    total_size = sum(int(t.nbytes) for t in weights.values())
    weight_map: dict[str, str] = {}
    for shard in range(1, NUM_SHARDS + 1):
        filename = f"model-{shard:05d}-of-{NUM_SHARDS:05d}.safetensors"
        tensors = {name: t for name, t in weights.items() if shard_of(name) == shard}
        # safetensors orders tensors by dtype then name, so the header and data layout are deterministic.
        save_file(tensors, str(out_dir / filename), metadata={"format": "pt"})
        # safetensors creates files 0600; use the usual 0644 so packed file modes don't depend on the writer.
        (out_dir / filename).chmod(0o644)
        weight_map |= dict.fromkeys(tensors, filename)
    write_json(
        out_dir / "model.safetensors.index.json",
        {"metadata": {"total_size": total_size}, "weight_map": dict(sorted(weight_map.items()))},
    )

    (out_dir / "README.md").write_text(readme(num_params, total_size), encoding="utf-8")
    (out_dir / "LICENSE").write_text(LICENSE_TEXT, encoding="utf-8")

    manifest = {
        "name": "tiny-llm",
        "version": "0.1.0",
        "title": "Tiny random Llama",
        "description": "A tiny Llama-shaped causal language model with random weights, for testing tooling.",
        "authors": ["modelpack examples"],
        "licenses": ["Apache-2.0"],
        "family": "llama",
        "framework": "transformers",
        "format": "safetensors",
        "architecture": "LlamaForCausalLM",
        "paramSize": human_params(num_params),
        "precision": TORCH_DTYPE,
        "labels": {"task": "text-generation"},
        "hyperparameters": {
            "hidden_size": HIDDEN_SIZE,
            "intermediate_size": INTERMEDIATE_SIZE,
            "num_hidden_layers": NUM_LAYERS,
            "num_attention_heads": NUM_HEADS,
            "num_key_value_heads": NUM_KV_HEADS,
            "vocab_size": VOCAB_SIZE,
            "max_position_embeddings": MAX_POSITIONS,
        },
    }
    with open(out_dir / "modelpack.yaml", "w", encoding="utf-8") as f:
        yaml.safe_dump(manifest, f, sort_keys=False)

    print(f"params={num_params} ({human_params(num_params)}) tensor_bytes={total_size} dtype={TORCH_DTYPE}")
    print(f"wrote {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
