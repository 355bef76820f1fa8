"""The `train:` section: fine-tuning method and hyper-parameters."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Section


class TrainConfig(Section):
    """LoRA by default (all linear layers, r=16, alpha=32, lr 1e-3)."""

    method: Literal["lora", "dora", "qlora", "full"] = Field("lora", description="lora | dora | qlora (CUDA + bitsandbytes) | full")
    lora_r: int = Field(16, ge=1, description="LoRA rank")
    lora_alpha: int = Field(32, ge=1, description="LoRA alpha (scale = alpha / r)")
    lora_dropout: float = Field(
        0.0, ge=0.0, lt=1.0, description="dropout on the LoRA path. 0 by default: on CPU drawing the masks "
                                         "(7 per layer) took a quarter of a SmolLM2-135M step and kept a copy of "
                                         "every LoRA input for backward")
    target_modules: str | list[str] = Field("all-linear", description="'all-linear' or a list of module names")
    learning_rate: float = Field(
        1e-3, gt=0, description="peak learning rate. Unset: 1e-3 for adapters on models under 500M parameters "
                                "(tuned on SmolLM2-135M), 2e-4 for adapters on larger models; method full: 1e-4 "
                                "under 500M, 2e-5 from there; the run's resolved config records the value used")
    epochs: int | None = Field(
        None, ge=1, description="passes over the train split; None = automatic: 3, or more for small sets "
                                "(at least 300 rows seen, at most 10 epochs), with early stopping")
    max_steps: int | None = Field(None, ge=1, description="stop after this many optimizer steps (overrides epochs)")
    batch_size: int = Field(8, ge=1, description="rows per micro-batch")
    grad_accum: int = Field(1, ge=1, description="micro-batches per optimizer step")
    tokens_per_step: int | None = Field(
        None, ge=1, description="trained (answer) tokens per optimizer step instead of a fixed number of rows: "
                                "each epoch is cut into ceil(answer tokens / tokens_per_step) steps of whole rows "
                                "with about that many answer tokens each, split into micro-batches of at most "
                                "batch_size rows (grad_accum is not used). The learning-rate defaults were tuned "
                                "at 8 rows per step: keep tokens_per_step near 8 x the mean answer tokens of a row "
                                "(Midjourney rows: ~45, so ~360) or scale the learning rate with it")
    packing: Literal["auto", "on", "off"] = Field(
        "auto", description="padding-free packing: the rows of a micro-batch are concatenated into sequences of "
                            "at most data.max_length tokens, positions restarting at 0 per row and attention never "
                            "crossing a row. auto = on when a probe shows the model isolates packed rows, else "
                            "padded batches; on = fail when it does not; off = padded batches")
    micro_batch_tokens: int | None = Field(
        None, ge=0, description="cap on the tokens of one forward pass: a micro-batch whose rows hold more is "
                                "run in parts (accumulated; the loss and what is learnt do not change). Activation "
                                "memory grows with tokens, not rows. None = auto: 512 on CPU (keeps `tailor train` "
                                "on the bundled 135M model under 3 GB), no cap on GPUs; 0 = no cap")
    gradient_checkpointing: bool = Field(
        False, description="recompute each layer's activations in backward instead of keeping them: less memory "
                           "for long rows or big micro-batches, about a third more compute per step")
    warmup_ratio: float = Field(0.05, ge=0.0, lt=1.0, description="share of steps for linear warm-up")
    weight_decay: float = Field(0.0, ge=0.0, description="AdamW weight decay")
    scheduler: Literal["cosine", "linear", "constant"] = Field("cosine", description="learning-rate schedule after warm-up")
    max_grad_norm: float = Field(1.0, gt=0, description="gradient clipping")
    early_stopping_patience: int = Field(2, ge=0, description="epochs without val-loss improvement before stopping (0 = off)")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field("auto", description="auto = fp32 on CPU, bf16 on GPUs that support it")
    seed: int = Field(42, description="seed for init, shuffling and dropout")
    run_name: str = Field("default", description="run directory name under runs/")
    save_every_steps: int | None = Field(None, ge=1, description="also checkpoint every N steps (always at each epoch end)")
    log_every_steps: int = Field(5, ge=1, description="write train loss to metrics.jsonl every N steps")
