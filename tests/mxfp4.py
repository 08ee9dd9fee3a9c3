"""A gpt-oss checkpoint that comes quantized to MXFP4, as openai/gpt-oss-* do, written by hand on
a CPU (transformers' own MXFP4 quantizer needs Triton kernels and a GPU).

The layout is the one transformers' MXFP4 loader reads (transformers/integrations/mxfp4.py):
each expert weight `…experts.gate_up_proj` / `…experts.down_proj` (E, in, out) is stored
transposed, as `<name>_blocks` (E, out, in/32, 16) uint8 — 32 FP4 (e2m1) codes per block, two per
byte, low nibble first — and `<name>_scales` (E, out, in/32) uint8 — each block's power-of-two
scale, biased by 127; config.json carries gpt-oss-20b's quantization_config.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

FP4_VALUES = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0]
GPT_OSS_QUANTIZATION = {"quant_method": "mxfp4", "modules_to_not_convert": [
    "model.layers.*.self_attn", "model.layers.*.mlp.router", "model.embed_tokens", "lm_head"]}


def to_mxfp4(weight):
    """(blocks, scales) of an expert weight (E, in, out); `in` a multiple of 32."""
    import torch

    wt = weight.detach().transpose(1, 2).float()
    experts, rows, cols = wt.shape
    groups = wt.reshape(experts, rows, cols // 32, 32)
    exponent = torch.ceil(torch.log2(groups.abs().amax(-1).clamp(min=1e-30) / 6.0)).clamp(-127, 127)
    scaled = groups / torch.exp2(exponent)[..., None]  # every value within ±6, the largest FP4 magnitude
    codes = (scaled[..., None] - torch.tensor(FP4_VALUES)).abs().argmin(-1).to(torch.uint8)
    return (codes[..., 0::2] | (codes[..., 1::2] << 4)).contiguous(), (exponent + 127).to(torch.uint8).contiguous()


def write_mxfp4_checkpoint(model_dir: Path, dest: Path) -> Path:
    """A copy of a (tiny) gpt-oss folder with its experts in MXFP4, as the hub's gpt-oss checkpoints are."""
    from safetensors.torch import load_file, save_file

    shutil.copytree(model_dir, dest)
    tensors = load_file(str(dest / "model.safetensors"))
    out = {}
    for name, tensor in tensors.items():
        if name.endswith(("experts.gate_up_proj", "experts.down_proj")):
            out[name + "_blocks"], out[name + "_scales"] = to_mxfp4(tensor)
        else:
            out[name] = tensor
    save_file(out, str(dest / "model.safetensors"), metadata={"format": "pt"})
    config = json.loads((dest / "config.json").read_text(encoding="utf-8"))
    config["quantization_config"] = GPT_OSS_QUANTIZATION
    (dest / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return dest
