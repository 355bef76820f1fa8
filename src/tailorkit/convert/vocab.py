"""The tokenizer part of a GGUF: tokens, token types, merges, pre-tokenizer name, special ids, chat template.

Written from the HF tokenizer the model was TRAINED with (the one saved in the adapter folder), the way
llama.cpp's convert_hf_to_gguf.py does for byte-level BPE vocabularies (`_set_vocab_gpt2`): tokens in id
order, ids the tokenizer lacks become `[PAD<i>]` (UNUSED), added special tokens are CONTROL, other added
tokens USER_DEFINED, merges from tokenizer.json. Every end token of the stop contract is written: the
template's terminator as `eos`, the end-of-turn token as `eot`, and a further one as `eom`, so
llama.cpp and Ollama stop where the trained model stops.

The pre-tokenizer name (`tokenizer.ggml.pre`) tells llama.cpp which regex splits text before BPE. The
converter finds it from a hash table of known tokenizers; we read the tokenizer's own pre_tokenizer
structure instead (a random test tokenizer has no known hash) and recognise the layouts of GPT-2,
SmolLM (digits split first), Llama 3 and Qwen2. A source GGUF (the bundled model) can supply it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from ..errors import ModelError

# Split regexes of tokenizer.json files, as llama.cpp's llama-vocab.cpp knows them per pre-tokenizer name.
LLAMA3_SPLIT = ("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+"
                "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")
QWEN2_SPLIT = ("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+"
               "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")
SUPPORTED_PRE = "byte-level BPE with the GPT-2, SmolLM (single digits), Llama 3 or Qwen2 pre-tokenizer"

TOKEN_NORMAL, TOKEN_UNUSED, TOKEN_CONTROL, TOKEN_USER_DEFINED = 1, 5, 3, 4  # gguf.TokenType values


@dataclass
class Vocab:
    """Everything the writer puts under tokenizer.*; `stop_ids` is the stop contract, eos first."""

    tokens: list[str]
    token_types: list[int]
    merges: list[str]
    pre: str
    bos_id: int | None
    stop_ids: list[int]
    pad_id: int | None
    unk_id: int | None
    add_bos: bool
    chat_template: str
    end_tokens: list[str] = field(default_factory=list)  # the stop ids as text, for a Modelfile


def _tokenizer_json(tokenizer) -> dict:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise ModelError(f"the tokenizer ({type(tokenizer).__name__}) has no tokenizer.json backend",
                         fix=f"GGUF export supports {SUPPORTED_PRE} (a fast tokenizer)")
    return json.loads(backend.to_str())


def _pre_from_structure(pre: dict | None) -> str | None:
    if not pre:
        return None
    kind = pre.get("type")
    if kind == "ByteLevel" and pre.get("use_regex", True):
        return "gpt-2"
    if kind != "Sequence":
        return None
    parts = pre.get("pretokenizers") or []
    kinds = [p.get("type") for p in parts]
    if kinds == ["Digits", "ByteLevel"] and parts[0].get("individual_digits") and parts[1].get("use_regex", True):
        return "smollm"
    if kinds == ["Split", "ByteLevel"] and not parts[1].get("use_regex", True):
        regex = (parts[0].get("pattern") or {}).get("Regex")
        return {LLAMA3_SPLIT: "llama-bpe", QWEN2_SPLIT: "qwen2"}.get(regex)
    return None


def pre_tokenizer_name(tokenizer) -> str:
    """llama.cpp's name for the tokenizer's pre-tokenizer, or ModelError naming what is supported."""
    tj = _tokenizer_json(tokenizer)
    model = tj.get("model") or {}
    if model.get("type") != "BPE" or model.get("byte_fallback"):
        raise ModelError(f"the tokenizer is a {model.get('type', '?')} model"
                         f"{' with byte fallback (SentencePiece style)' if model.get('byte_fallback') else ''}, "
                         "which the GGUF writer does not convert", fix=f"GGUF export supports {SUPPORTED_PRE}")
    name = _pre_from_structure(tj.get("pre_tokenizer"))
    if name is None:
        raise ModelError(f"unknown pre-tokenizer layout {json.dumps(tj.get('pre_tokenizer'))[:160]}",
                         fix=f"GGUF export supports {SUPPORTED_PRE}")
    return name


def _merges(tj: dict) -> list[str]:
    merges = (tj.get("model") or {}).get("merges") or []
    return [" ".join(m) if isinstance(m, (list, tuple)) else str(m) for m in merges]


def _adds_bos(tokenizer) -> bool:
    if tokenizer.bos_token_id is None:
        return False
    ids = tokenizer("a", add_special_tokens=True)["input_ids"]
    return bool(ids) and ids[0] == tokenizer.bos_token_id


def build_vocab(tokenizer, n_vocab: int, stop_ids: list[int], *, pre: str | None = None) -> Vocab:
    """The GGUF vocabulary of `tokenizer` for an embedding with `n_vocab` rows.

    `stop_ids` (eos first) are the ids that end an answer; `pre` overrides the detected pre-tokenizer
    (e.g. copied from the GGUF the base model came from)."""
    tj = _tokenizer_json(tokenizer)
    pre = pre or pre_tokenizer_name(tokenizer)
    vocab = tokenizer.get_vocab()
    if vocab and max(vocab.values()) >= n_vocab:
        raise ModelError(f"the tokenizer has ids up to {max(vocab.values())} but the model only {n_vocab} embeddings",
                         fix="export the tokenizer the model was trained with (runs/<name>/adapter)")
    reverse = {i: t for t, i in vocab.items()}
    added = {tid: tok for tid, tok in tokenizer.added_tokens_decoder.items()}
    tokens, types = [], []
    for i in range(n_vocab):
        if i not in reverse:
            tokens.append(f"[PAD{i}]")
            types.append(TOKEN_UNUSED)
        elif i in added:
            tokens.append(reverse[i])
            types.append(TOKEN_CONTROL if added[i].special else TOKEN_USER_DEFINED)
        else:
            tokens.append(reverse[i])
            types.append(TOKEN_NORMAL)
    stops = [i for i in dict.fromkeys(stop_ids) if isinstance(i, int) and 0 <= i < n_vocab]
    if not stops:
        raise ModelError("the model has no end token to stop on", fix="use a tokenizer with an eos token")
    return Vocab(tokens=tokens, token_types=types, merges=_merges(tj), pre=pre, bos_id=tokenizer.bos_token_id,
                 stop_ids=stops, pad_id=tokenizer.pad_token_id, unk_id=tokenizer.unk_token_id,
                 add_bos=_adds_bos(tokenizer), chat_template=tokenizer.chat_template or "",
                 end_tokens=[tokens[i] for i in stops])


def write_vocab(writer, vocab: Vocab) -> None:
    """Add the tokenizer.* keys to a gguf.GGUFWriter."""
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(vocab.pre)
    writer.add_token_list(vocab.tokens)
    writer.add_token_types(vocab.token_types)
    writer.add_token_merges(vocab.merges)
    if vocab.bos_id is not None:
        writer.add_bos_token_id(vocab.bos_id)
    eos, *rest = vocab.stop_ids
    writer.add_eos_token_id(eos)
    # llama.cpp stops on eos, eot and eom (and on tokens it recognises by text, e.g. <|im_end|>).
    writer.add_eot_token_id(rest[0] if rest else eos)
    if len(rest) > 1:
        writer.add_eom_token_id(rest[1])
    if vocab.unk_id is not None:
        writer.add_unk_token_id(vocab.unk_id)
    if vocab.pad_id is not None:
        writer.add_pad_token_id(vocab.pad_id)
    writer.add_add_bos_token(vocab.add_bos)
    writer.add_add_eos_token(False)
    if vocab.chat_template:
        writer.add_chat_template(vocab.chat_template)
