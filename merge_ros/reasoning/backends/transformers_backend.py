"""The `transformers` backend: any AutoModelForImageTextToText model (a hub id or a local folder) in-process.

The model loads once, in the constructor, so a bad path or an unsupported model is one clear BackendLoadError at
start instead of a failure per request. A hub id is looked up in the local Hugging Face cache first and loaded from
there without asking the hub; one that is not cached on a robot without internet is refused within seconds
(model_source), instead of the minutes the hub client spends retrying before it gives up. Decoding is greedy
(do_sample=False): the same request gives the same answer, which makes live and offline runs comparable.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np

from merge_ros.reasoning.backends.base import BackendLoadError, TextBackend
from merge_ros.reasoning.parameters import BackendConfig
from merge_ros.types import ReasonRequest

log = logging.getLogger(__name__)

# One request, no retries: long enough for a slow link to answer, short enough that a robot without internet
# hears at start-up (in seconds) that its model must be provided locally.
HUB_PROBE_TIMEOUT_S = 3.0


def model_source(model: str) -> str:
    """What from_pretrained should load for the parameter `model`, found without waiting on the network: an
    existing local folder as is; a hub id's folder in the local Hugging Face cache; else the hub id itself, if the
    hub can be reached to download it. BackendLoadError saying how to provide the model otherwise."""
    from huggingface_hub import constants, is_offline_mode, snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError
    from huggingface_hub.utils import validate_repo_id

    if not model:
        raise BackendLoadError("transformers backend: parameter 'model' is empty (give a model id or a local path)")
    if Path(model).expanduser().exists():
        return str(Path(model).expanduser())
    try:
        validate_repo_id(model)
    except HFValidationError:
        raise BackendLoadError(f"transformers backend: model folder {model!r} does not exist") from None
    try:
        return snapshot_download(model, local_files_only=True)
    except LocalEntryNotFoundError:
        pass
    unreachable = "HF_HUB_OFFLINE is set" if is_offline_mode() else hub_unreachable(constants.ENDPOINT)
    if unreachable:
        raise BackendLoadError(
            f"transformers backend: model {model!r} is neither a local folder nor in the Hugging Face cache "
            f"({constants.HF_HUB_CACHE}), and it cannot be downloaded ({unreachable}). Give parameter 'model' the "
            f"model's local folder, or download it on a connected machine (`hf download {model}`) and copy that "
            "machine's cache (HF_HOME, default ~/.cache/huggingface) to this one")
    return model


def hub_unreachable(endpoint: str, timeout_s: float = HUB_PROBE_TIMEOUT_S) -> str:
    """Why endpoint cannot be reached ('' if it answers at all), asked once and for at most timeout_s.

    The request runs in a thread of its own because name resolution is outside any socket timeout: a robot whose
    DNS server does not answer would otherwise wait for the resolver's own retries.
    """
    import httpx

    why = [f"no answer from {endpoint} within {timeout_s:.0f} s"]

    def probe() -> None:
        try:
            httpx.head(endpoint, timeout=timeout_s)
            why[0] = ""
        except httpx.HTTPError as exc:
            why[0] = f"{endpoint}: {type(exc).__name__}: {exc}"

    thread = threading.Thread(target=probe, name="hub probe", daemon=True)
    thread.start()
    thread.join(timeout_s)
    return why[0]


class TransformersBackend(TextBackend):
    name = "transformers"

    def __init__(self, config: BackendConfig) -> None:
        super().__init__(config.retries, config.backoff_s)
        model, device, dtype = config.model, config.device, config.dtype
        source = model_source(model)
        self.max_new_tokens = config.max_new_tokens
        try:
            import torch
            from transformers import AutoModelForImageTextToText, AutoProcessor

            self._torch = torch
            self.processor = AutoProcessor.from_pretrained(source)
            torch_dtype = dtype if dtype == "auto" else getattr(torch, dtype)
            self.model = AutoModelForImageTextToText.from_pretrained(source, dtype=torch_dtype).to(device).eval()
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
