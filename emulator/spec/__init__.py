"""OpenAI's published OpenAPI subset (openai/openai-openapi ``openapi.yaml`` 2.3.0, MIT) the emulator follows."""

from pathlib import Path

SPEC_PATH = Path(__file__).resolve().parent / "openapi-finetuning-subset.yaml"
