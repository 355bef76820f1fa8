"""HF -> GGUF conversion with the `gguf` package (no llama.cpp checkout): whole models, LoRA adapters."""
