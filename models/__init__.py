"""The shipped default model, `actionrec-default.safetensors`, and its ONNX twin: package data of `actionrec.models`
(this folder, mapped in pyproject.toml). The model store's `actionrec.hub.default_model_path` is where code finds
them."""
