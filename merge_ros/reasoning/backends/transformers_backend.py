"""The `transformers` backend: any AutoModelForImageTextToText model (a hub id or a local folder) in-process.

The model loads once, in the constructor, so a bad path or an unsupported model is one clear BackendLoadError at
start instead of a failure per request. Decoding is greedy (do_sample=False): the same request gives the same
answer, which makes live and offline runs comparable.
"""
from __future__ import annotations

import logging

import numpy as np

from merge_ros.reasoning.backends.base import BackendLoadError, TextBackend
from merge_ros.reasoning.parameters import BackendConfig
from merge_ros.types import ReasonRequest

log = logging.getLogger(__name__)

class TransformersBackend(TextBackend):
    name = "transformers"

    def __init__(self, config: BackendConfig) -> None:
        super().__init__(config.retries, config.backoff_s)
        model, device, dtype = config.model, config.device, config.dtype
        if not model:
            raise BackendLoadError("transformers backend: parameter 'model' is empty (give a model id or a local path)")
        self.max_new_tokens = config.max_new_tokens
        try:
            import torch
            from transformers import AutoModelForImageTextToText, AutoProcessor

            self._torch = torch
            self.processor = AutoProcessor.from_pretrained(model)
            torch_dtype = dtype if dtype == "auto" else getattr(torch, dtype)
            self.model = AutoModelForImageTextToText.from_pretrained(model, dtype=torch_dtype).to(device).eval()
        except Exception as e:
            raise BackendLoadError(f"transformers backend: cannot load {model!r} on {device} ({dtype}): "
                                   f"{type(e).__name__}: {e}") from e
        if not getattr(self.processor, "chat_template", None):
            raise BackendLoadError(f"transformers backend: {model!r} has no chat template (use an instruct/chat "
                                   "model)")
        log.info("loaded %s (%s) on %s", model, type(self.model).__name__, device)

    def generate(self, request: ReasonRequest) -> str:
        from PIL import Image

        content: list[dict] = []
        for i, image in enumerate(request.images):
            caption = request.captions[i] if i < len(request.captions) else f"image {i}"
            rgb = Image.fromarray(np.ascontiguousarray(image[:, :, ::-1]))
            content += [{"type": "text", "text": f"{caption}:"}, {"type": "image", "image": rgb}]
        content.append({"type": "text", "text": request.prompt})
        inputs = self.processor.apply_chat_template(
            [{"role": "user", "content": content}], add_generation_prompt=True, tokenize=True, return_dict=True,
            return_tensors="pt")
        inputs = inputs.to(self.model.device, dtype=self.model.dtype)
        with self._torch.inference_mode():
            output = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
        new_tokens = output[:, inputs["input_ids"].shape[1]:]
        return self.processor.batch_decode(new_tokens, skip_special_tokens=True)[0]
