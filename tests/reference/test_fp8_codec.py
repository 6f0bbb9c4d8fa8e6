"""FP8 e4m3 codec and block quantizers versus torch.float8_e4m3fn, bit for bit.

Drives `grpo_ref fp8-encode/fp8-decode/fp8-quant-weight/fp8-quant-act` on raw binary files.
Checks:
  * all 256 codes decode to the same float32 bit patterns as torch (NaN payload included);
  * a million floats (normals at many scales, e4m3 and fp32 subnormals, ±448 and beyond,
    exact rounding ties, NaN with both signs and odd payloads, ±inf, ±0) encode to the same
    bytes as torch's cast;
  * 128x128 weight quantization of a 576-row (partial last tile) matrix and 1x128 activation
    quantization with a ragged K match a torch transcription of DeepGEMM's per_block_cast_to_fp8
    and DeepSeek's act_quant (spec §6.3): scales and codes identical.
"""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from refutil import Checks, ref_tool, require  # noqa: E402

torch, np = require("torch", "numpy")

checks = Checks()
tmp = tempfile.mkdtemp(prefix="grpo_fp8_")


def path(name):
    return os.path.join(tmp, name)


def torch_codes(x):
    return x.to(torch.float8_e4m3fn).view(torch.uint8)


# --- decode: all 256 codes --------------------------------------------------------------------
codes = torch.arange(256, dtype=torch.int32).to(torch.uint8)
codes.numpy().tofile(path("codes.u8"))
ref_tool("fp8-decode", path("codes.u8"), path("decoded.f32"))
ours = np.fromfile(path("decoded.f32"), dtype=np.uint32)
theirs = codes.view(torch.float8_e4m3fn).float().view(torch.int32).numpy().view(np.uint32)
bad = np.nonzero(ours != theirs)[0]
checks.check(len(bad) == 0, f"decode differs from torch for {len(bad)} codes, e.g. "
             + ", ".join(f"0x{c:02x}: ours 0x{ours[c]:08x} torch 0x{theirs[c]:08x}" for c in bad[:5]))

# --- encode: a million adversarial floats ------------------------------------------------------
g = torch.Generator().manual_seed(1234)
n = 1 << 20
part = n // 8
scales = torch.pow(2.0, torch.randint(-12, 10, (part,), generator=g).float())
pieces = [
    torch.randn(part, generator=g),                                  # normals
    torch.randn(part, generator=g) * scales,                         # many binades
    (torch.rand(part, generator=g) * 2 - 1) * 700.0,                 # ±448 and beyond
    (torch.rand(part, generator=g) * 2 - 1) * 2.0 ** -6,             # e4m3 subnormal range
    (torch.randint(-(2**23), 2**23, (part,), generator=g).float() * 2.0 ** -149),  # fp32 subnormals
]
# Exact midpoints between neighbouring e4m3 values (ties to even), and the 464/480 boundary.
finite = codes[:0x7F].view(torch.float8_e4m3fn).float().double()
upper = torch.cat([finite[1:], torch.tensor([480.0], dtype=torch.float64)])
mids = ((finite + upper) / 2).float()
idx = torch.randint(0, mids.numel(), (part,), generator=g)
sign = torch.where(torch.rand(part, generator=g) < 0.5, -1.0, 1.0)
pieces.append(mids[idx] * sign)
near = torch.tensor([448.0, 463.99, 464.0, 464.01, 479.99, 480.0, 480.01, 1e30])
pieces.append(near.repeat(part // near.numel() + 1)[:part] * sign)
# Specials: ±inf, ±0, NaNs with both signs and assorted payloads (built from raw bits).
rng = np.random.default_rng(1234)
nan_bits = rng.integers(0x7F800001, 0x80000000, size=part // 2, dtype=np.uint32)
nan_bits |= np.where(rng.random(part // 2) < 0.5, np.uint32(0x80000000), np.uint32(0))
specials = torch.tensor([float("inf"), float("-inf"), 0.0, -0.0]).repeat(part // 8 + 1)[: part - part // 2]
pieces.append(torch.cat([torch.from_numpy(nan_bits.view(np.float32)), specials]))
x = torch.cat(pieces)[:n].contiguous()
x = x[torch.randperm(x.numel(), generator=g)]
x.numpy().tofile(path("x.f32"))
ref_tool("fp8-encode", path("x.f32"), path("x.u8"))
ours = np.fromfile(path("x.u8"), dtype=np.uint8)
theirs = torch_codes(x).numpy()
checks.check(ours.size == n, f"fp8-encode wrote {ours.size} bytes for {n} floats")
bad = np.nonzero(ours != theirs)[0]
xb = x.view(torch.int32).numpy().view(np.uint32)
checks.check(len(bad) == 0, f"encode differs from torch on {len(bad)} of {n} floats, e.g. "
             + ", ".join(f"0x{xb[i]:08x} ({x[i].item()!r}): ours 0x{ours[i]:02x} torch 0x{theirs[i]:02x}"
                         for i in bad[:5]))
print(f"encode: {n} floats, {int((x.abs() > 448).sum())} beyond ±448, {int(torch.isnan(x).sum())} NaN, "
      f"{int(torch.isinf(x).sum())} inf, {len(bad)} mismatches")


# --- block quantization ------------------------------------------------------------------------
def torch_quant_weight(w):
    """DeepGEMM per_block_cast_to_fp8, as spec §6.3: pad to 128, amax per tile (>= 1e-4), s = amax/448."""
    rows, cols = w.shape
    pr, pc = -rows % 128, -cols % 128
    wp = torch.nn.functional.pad(w, (0, pc, 0, pr))
    tiles = wp.view(wp.shape[0] // 128, 128, wp.shape[1] // 128, 128)
    amax = tiles.abs().amax(dim=(1, 3), keepdim=True).clamp(min=1e-4)
    s = amax / 448.0
    q = (tiles / s).clamp(-448.0, 448.0).to(torch.float8_e4m3fn).view(wp.shape)[:rows, :cols]
    return q.contiguous().view(torch.uint8), s.view(s.shape[0], s.shape[2])


def torch_quant_act(x):
    """DeepSeek act_quant per 1x128 tile along K (ragged K padded with zeros)."""
    rows, k = x.shape
    xp = torch.nn.functional.pad(x, (0, -k % 128))
    tiles = xp.view(rows, -1, 128)
    amax = tiles.abs().amax(dim=2, keepdim=True).clamp(min=1e-4)
    s = amax / 448.0
    q = (tiles / s).clamp(-448.0, 448.0).to(torch.float8_e4m3fn).view(rows, -1)[:, :k]
    return q.contiguous().view(torch.uint8), s.view(rows, -1)


def compare_quant(tool, rows, cols, x, torch_fn, what):
    x.numpy().tofile(path("q_in.f32"))
    ref_tool(tool, rows, cols, path("q_in.f32"), path("q.u8"), path("q_s.f32"))
    q_ours = np.fromfile(path("q.u8"), dtype=np.uint8).reshape(rows, cols)
    q_ref, s_ref = torch_fn(x)
    s_ours = np.fromfile(path("q_s.f32"), dtype=np.uint32)
    s_ref_bits = s_ref.contiguous().view(torch.int32).numpy().view(np.uint32).reshape(-1)
    checks.check(s_ours.shape == s_ref_bits.shape, f"{what}: scale count {s_ours.shape} vs torch {s_ref_bits.shape}")
    if s_ours.shape == s_ref_bits.shape:
        checks.check(bool((s_ours == s_ref_bits).all()),
                     f"{what}: {int((s_ours != s_ref_bits).sum())} scales differ from torch")
    checks.check(bool((q_ours == q_ref.numpy()).all()),
                 f"{what}: {int((q_ours != q_ref.numpy()).sum())} codes differ from torch")


w = torch.randn(576, 1000, generator=g) * 0.02
w[256:384, 128:256] = 0.0   # an all-zero tile: the 1e-4 floor
w[:, 900:] *= 50.0          # a loud partial column tile
compare_quant("fp8-quant-weight", 576, 1000, w, torch_quant_weight, "weight 576x1000 (5x8 tiles)")
a = torch.randn(7, 300, generator=g) * torch.pow(2.0, torch.randint(-6, 6, (7, 1), generator=g).float())
a[3, 128:256] = 0.0
compare_quant("fp8-quant-act", 7, 300, a, torch_quant_act, "activation 7x300 (ragged K)")

checks.finish()
