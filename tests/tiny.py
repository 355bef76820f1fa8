"""Build a tiny, randomly initialised chat model (2 layers, small BPE vocab) for fast tests.

The tokenizer is trained here on a few sentences, with ChatML special tokens and a chat template,
so tests exercise the real tokenization, masking, training and generation code in seconds.
"""
from __future__ import annotations

from pathlib import Path

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# Gemma-style: turns end with <end_of_turn>, which is not the tokenizer's eos (<eos>).
GEMMA = (
    "{{ bos_token }}{% for message in messages %}{{ '<start_of_turn>' + ('model' if message['role'] == 'assistant' "
    "else message['role']) + '\n' + message['content'] + '<end_of_turn>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
)

CORPUS = [
    "midjourney prompt for a girl wearing roller skates",
    "portrait of a girl on roller skates, neon city at night, cinematic lighting, 8k --ar 16:9",
    "a viking warrior with a black iron amulet, matte painting, unreal engine --ar 16:9",
    "steampunk children's car, copper, blueprint, symmetrical, concept art --ar 8:5",
    "You are a helpful assistant. Write the prompt. The quick brown fox jumps over the lazy dog.",
    "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 .,:;!?'\"()[]{}-_/\\@#$%^&*+=<>|~`",
]


def build_tiny_model(out: Path, *, vocab_size: int = 400, hidden: int = 32, layers: int = 2, seed: int = 0,
                     style: str = "chatml") -> Path:
    """style="chatml": ChatML, eos = <|im_end|>; style="gemma": Gemma-style turns ending with
    <end_of_turn>, eos = <eos> (a different token)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    out.mkdir(parents=True, exist_ok=True)
    if style == "gemma":
        specials = ["<pad>", "<eos>", "<bos>", "<start_of_turn>", "<end_of_turn>"]
        names = dict(eos_token="<eos>", bos_token="<bos>", pad_token="<pad>", unk_token="<pad>")
    else:
        specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
        names = dict(eos_token="<|im_end|>", bos_token="<|im_start|>", pad_token="<|endoftext|>",
                     unk_token="<|endoftext|>")
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tk.train_from_iterator(CORPUS * 20, trainer=trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, **names)
    tok.chat_template = GEMMA if style == "gemma" else CHATML
    tok.save_pretrained(out)
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=hidden, intermediate_size=hidden * 2,
                      num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=2,
                      max_position_embeddings=2048, bos_token_id=tok.bos_token_id,
                      eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, tie_word_embeddings=True)
    LlamaForCausalLM(cfg).save_pretrained(out)
    return out
