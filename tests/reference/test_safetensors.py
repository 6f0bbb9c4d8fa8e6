"""Our safetensors reader/writer against Python's safetensors (and huggingface_hub's sharding).

(a) files written by safetensors.torch.save_file (every dtype, odd shapes, scalars, empty
    tensors, metadata) read back by `grpo_ref safetensors-dump` with identical bytes;
(b) files written by `grpo_ref safetensors-write` load in Python with the right values and
    metadata, and are byte-identical to Python's save_file of the same tensors;
(c) sharded folders: ours load through the index in Python and split exactly as
    huggingface_hub splits; a hand-written Python index (weight and scale in different
    shards) loads in ours;
(d) malformed files: we reject what Python rejects (plus duplicate names, which Python
    silently resolves to the last entry) and accept what it accepts.
"""
import json
import os
import struct
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from refutil import Checks, ref_tool, require  # noqa: E402

torch, safetensors, huggingface_hub = require("torch", "safetensors", "huggingface_hub")
from safetensors import safe_open  # noqa: E402
from safetensors.torch import load, save_file  # noqa: E402

DTYPE_NAMES = {
    torch.bool: "BOOL", torch.uint8: "U8", torch.int8: "I8", torch.float8_e5m2: "F8_E5M2",
    torch.float8_e4m3fn: "F8_E4M3", torch.float8_e8m0fnu: "F8_E8M0", torch.int16: "I16",
    torch.uint16: "U16", torch.float16: "F16", torch.bfloat16: "BF16", torch.int32: "I32",
    torch.uint32: "U32", torch.float32: "F32", torch.complex64: "C64", torch.float64: "F64",
    torch.int64: "I64", torch.uint64: "U64",
}


def raw_hex(t):
    """The tensor's bytes, little-endian row-major, as hex (bit-exact: NaNs and -0 included)."""
    return t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes().hex()


def dump(path):
    return json.loads(ref_tool("safetensors-dump", path).stdout)


def compare_dump(checks, what, got, expected, metadata):
    checks.check(got["metadata"] == metadata, f"{what}: metadata {got['metadata']} != {metadata}")
    checks.check(sorted(got["tensors"]) == sorted(expected), f"{what}: names differ: {sorted(got['tensors'])}")
    for name, t in expected.items():
        g = got["tensors"].get(name)
        if g is None:
            continue
        ok = g["dtype"] == DTYPE_NAMES[t.dtype] and g["shape"] == list(t.shape) and g["hex"] == raw_hex(t)
        checks.check(ok, f"{what}: tensor {name}: got {g['dtype']} {g['shape']}, want {DTYPE_NAMES[t.dtype]} "
                         f"{list(t.shape)} (bytes equal: {g['hex'] == raw_hex(t)})")


def python_tensors():
    """Every dtype torch and safetensors share, with random bit patterns and awkward shapes."""
    g = torch.Generator().manual_seed(7)
    shapes = [(3, 5), (), (0, 4), (2, 3, 7), (1,), (4, 0, 2)]
    out = {}
    for i, dtype in enumerate(DTYPE_NAMES):
        for j, shape in enumerate(shapes):
            n = 1
            for d in shape:
                n *= d
            if dtype == torch.bool:
                t = torch.randint(0, 2, (n,), generator=g, dtype=torch.uint8).bool()
            else:
                size = torch.empty((), dtype=dtype).element_size()
                t = torch.randint(0, 256, (n * size,), generator=g, dtype=torch.uint8).view(dtype)
            out[f"{DTYPE_NAMES[dtype].lower()}.{j}"] = t.reshape(shape)
    # A DeepSeek-style FP8 weight with its block scale.
    out["model.layers.3.mlp.down_proj.weight"] = torch.randn(8, 4, generator=g).to(torch.float8_e4m3fn)
    out["model.layers.3.mlp.down_proj.weight_scale_inv"] = torch.rand(1, 1, generator=g)
    return out


def fixed_set():
    """The tensors `grpo_ref safetensors-write` writes (same formulas as ref_safetensors.cpp)."""
    specs = [
        ("model.layers.0.self_attn.q_a_proj.weight", torch.float8_e4m3fn, (4, 8)),
        ("model.layers.0.self_attn.q_a_proj.weight_scale_inv", torch.float32, (1, 1)),
        ("model.embed_tokens.weight", torch.bfloat16, (5, 3)),
        ("model.norm.weight", torch.bfloat16, (3,)),
        ("f64.matrix", torch.float64, (3, 4)),
        ("f32.scalar", torch.float32, ()),
        ("f32.empty", torch.float32, (0, 3)),
        ("f16.odd", torch.float16, (3, 5, 1)),
        ("f8e5", torch.float8_e5m2, (7,)),
        ("i64", torch.int64, (2, 3)),
        ("i32", torch.int32, (5,)),
        ("i16", torch.int16, (3,)),
        ("i8", torch.int8, (9,)),
        ("u8", torch.uint8, (2, 2)),
        ("u16", torch.uint16, (3,)),
        ("u32", torch.uint32, (2,)),
        ("u64", torch.uint64, (2,)),
        ("mask", torch.bool, (7,)),
    ]
    out = {}
    for name, dtype, shape in specs:
        n = 1
        for d in shape:
            n *= d
        a = torch.arange(n, dtype=torch.int64)
        if dtype == torch.bool:
            t = (a % 3) == 0
        elif dtype in (torch.uint8, torch.uint16, torch.uint32, torch.uint64):
            t = ((a * 37) % 251).to(dtype)
        elif not dtype.is_floating_point:
            t = ((a * 37) % 201 - 100).to(dtype)
        else:
            t = (torch.arange(n, dtype=torch.float64) * 0.731 - 2.5).to(dtype)
        out[name] = t.reshape(shape)
    return out


def check_python_to_ours(checks, tmp):
    tensors = python_tensors()
    meta = {"format": "pt", "note": 'quote " backslash \\ newline \n unicode é', "": "empty key"}
    path = os.path.join(tmp, "py_all.safetensors")
    save_file(tensors, path, metadata=meta)
    compare_dump(checks, "python->ours", dump(path), tensors, meta)


def check_ours_to_python(checks, tmp):
    expected = fixed_set()
    ours = os.path.join(tmp, "ours.safetensors")
    ref_tool("safetensors-write", ours, "--meta", "format=pt")
    theirs = os.path.join(tmp, "theirs.safetensors")
    save_file(expected, theirs, metadata={"format": "pt"})
    with open(ours, "rb") as f:
        ours_bytes = f.read()
    with open(theirs, "rb") as f:
        theirs_bytes = f.read()
    checks.check(ours_bytes == theirs_bytes, f"ours->python: files differ ({len(ours_bytes)} vs {len(theirs_bytes)} "
                                             f"bytes; headers {ours_bytes[8:200]!r} vs {theirs_bytes[8:200]!r})")

    # Several metadata keys: Python writes them in hash order, so compare what loads, not bytes.
    multi = os.path.join(tmp, "ours_multi.safetensors")
    ref_tool("safetensors-write", multi, "--meta", "format=pt", "--meta", "step=12", "--meta", "who=grpo \"rl\"")
    with safe_open(multi, framework="pt") as f:
        checks.check(f.metadata() == {"format": "pt", "step": "12", "who": 'grpo "rl"'}, f"metadata {f.metadata()}")
        checks.check(sorted(f.keys()) == sorted(expected), f"names {sorted(f.keys())}")
        for name, t in expected.items():
            got = f.get_tensor(name)
            checks.check(got.dtype == t.dtype and tuple(got.shape) == tuple(t.shape) and raw_hex(got) == raw_hex(t),
                         f"ours->python: tensor {name}")


def load_folder_like_transformers(folder):
    """transformers' rule: model.safetensors if present, else every shard the index names."""
    single = os.path.join(folder, "model.safetensors")
    if os.path.exists(single):
        with open(single, "rb") as f:
            return load(f.read())
    with open(os.path.join(folder, "model.safetensors.index.json")) as f:
        index = json.load(f)
    out = {}
    for name, shard in index["weight_map"].items():
        with safe_open(os.path.join(folder, shard), framework="pt") as f:
            out[name] = f.get_tensor(name)
    return out


def check_sharded(checks, tmp):
    from huggingface_hub import split_torch_state_dict_into_shards

    expected = fixed_set()
    folder = os.path.join(tmp, "ours_sharded")
    ref_tool("safetensors-write", folder, "--shard", "64")
    with open(os.path.join(folder, "model.safetensors.index.json")) as f:
        index = json.load(f)
    split = split_torch_state_dict_into_shards(expected, max_shard_size=64)
    checks.check(index["weight_map"] == split.tensor_to_filename,
                 f"sharding differs from huggingface_hub:\n{index['weight_map']}\n{split.tensor_to_filename}")
    checks.check(index["metadata"]["total_size"] == split.metadata["total_size"],
                 f"total_size {index['metadata']} vs {split.metadata}")
    checks.check(len(set(index["weight_map"].values())) > 2, "expected several shards")
    loaded = load_folder_like_transformers(folder)
    for name, t in expected.items():
        got = loaded.get(name)
        checks.check(got is not None and got.dtype == t.dtype and raw_hex(got) == raw_hex(t),
                     f"sharded ours->python: tensor {name}")
    for shard in set(index["weight_map"].values()):
        with safe_open(os.path.join(folder, shard), framework="pt") as f:
            checks.check(f.metadata() == {"format": "pt"}, f"{shard}: metadata {f.metadata()}")

    # Python-written shards with a hand-written index; weight and scale deliberately apart.
    tensors = python_tensors()
    names = sorted(tensors)
    weight = "model.layers.3.mlp.down_proj.weight"
    shards = {"model-00001-of-00002.safetensors": [n for n in names if n != weight + "_scale_inv"],
              "model-00002-of-00002.safetensors": [weight + "_scale_inv"]}
    pyfolder = os.path.join(tmp, "python_sharded")
    os.makedirs(pyfolder)
    weight_map = {}
    for shard, members in shards.items():
        save_file({n: tensors[n] for n in members}, os.path.join(pyfolder, shard), metadata={"format": "pt"})
        weight_map.update({n: shard for n in members})
    total = sum(t.numel() * t.element_size() for t in tensors.values())
    with open(os.path.join(pyfolder, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2, sort_keys=True)
    compare_dump(checks, "python shards->ours", dump(pyfolder), tensors, {"format": "pt"})

    single = os.path.join(tmp, "ours_single")
    ref_tool("safetensors-write", single)
    checks.check(sorted(os.listdir(single)) == ["model.safetensors"], f"unsharded folder holds {os.listdir(single)}")
    loaded = load_folder_like_transformers(single)
    checks.check(all(raw_hex(loaded[n]) == raw_hex(t) for n, t in expected.items()), "unsharded folder values")


def raw(header, data, n=None):
    header = header if isinstance(header, bytes) else header.encode()
    return struct.pack("<Q", len(header) if n is None else n) + header + data


def entry(name, dtype, shape, offsets, extra=""):
    return f'"{name}":{{"dtype":"{dtype}","shape":{json.dumps(shape)},"data_offsets":{json.dumps(offsets)}{extra}}}'


def check_malformed(checks, tmp):
    z8 = bytes(8)
    cases = {
        "valid": raw("{" + entry("w", "F32", [2], [0, 8]) + "}", z8),
        "leading_space": raw(" {" + entry("w", "F32", [2], [0, 8]) + "}\n", z8),
        "extra_key": raw("{" + entry("w", "F32", [2], [0, 8], ',"x":[1]') + "}", z8),
        "null_metadata": raw('{"__metadata__":null}', b""),
        "zero_size_shared": raw("{" + entry("a", "F32", [0], [0, 0]) + "," + entry("b", "F32", [0, 3], [0, 0]) + "}",
                                b""),
        "empty_name": raw("{" + entry("", "F32", [2], [0, 8]) + "}", z8),
        "too_short": b"\x05\x00\x00",
        "header_past_eof": raw("{}", b"", n=100),
        "header_too_large": raw("{}", b"", n=100_000_001),
        "trailing_garbage": raw("{" + entry("w", "F32", [2], [0, 8]) + "}x", z8),
        "trailing_nul": raw("{" + entry("w", "F32", [2], [0, 8]) + "}\0", z8),
        "not_object": raw("[1,2]", b""),
        "not_json": raw('{"w":', b""),
        "bad_utf8": raw(b'{"w\xff":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', z8),
        "unknown_dtype": raw("{" + entry("w", "F33", [2], [0, 8]) + "}", z8),
        "size_mismatch": raw("{" + entry("w", "F32", [3], [0, 8]) + "}", z8),
        "negative_dim": raw("{" + entry("w", "F32", [-2], [0, 8]) + "}", z8),
        "float_dim": raw("{" + entry("w", "F32", [2.0], [0, 8]) + "}", z8),
        "shape_overflow": raw("{" + entry("w", "F32", [2**62, 8], [0, 8]) + "}", z8),
        "overlap": raw("{" + entry("a", "F32", [2], [0, 8]) + "," + entry("b", "F32", [1], [4, 8]) + "}", z8),
        "hole": raw("{" + entry("a", "F32", [1], [0, 4]) + "," + entry("b", "F32", [1], [8, 12]) + "}", bytes(12)),
        "end_before_begin": raw("{" + entry("w", "F32", [0], [8, 0]) + "}", z8),
        "offsets_three": raw("{" + entry("w", "F32", [2], [0, 8, 9]) + "}", z8),
        "truncated_data": raw("{" + entry("w", "F32", [2], [0, 8]) + "}", bytes(4)),
        "trailing_data": raw("{" + entry("w", "F32", [2], [0, 8]) + "}", bytes(12)),
        "metadata_int": raw('{"__metadata__":{"x":1}}', b""),
        "metadata_list": raw('{"__metadata__":["a"]}', b""),
        "missing_dtype": raw('{"w":{"shape":[2],"data_offsets":[0,8]}}', z8),
        "duplicate_field": raw('{"w":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}}', z8),
        "duplicate_name": raw("{" + entry("w", "F32", [1], [0, 4]) + "," + entry("w", "F32", [2], [0, 8]) + "}", z8),
    }
    # Where we are deliberately stricter than Python (spec §8: duplicate keys are not allowed).
    stricter = {"duplicate_name"}
    for label, data in cases.items():
        path = os.path.join(tmp, f"case_{label}.safetensors")
        with open(path, "wb") as f:
            f.write(data)
        try:
            load(data)
            python_ok = True
        except Exception:  # safetensors raises SafetensorError, sometimes others
            python_ok = False
        proc = ref_tool("safetensors-dump", path, check=False)
        ours_ok = proc.returncode == 0
        want = False if label in stricter else python_ok
        checks.check(ours_ok == want, f"malformed {label}: python {'accepts' if python_ok else 'rejects'}, "
                                      f"ours {'accepts' if ours_ok else 'rejects'}: {proc.stderr.strip()}")
        if not ours_ok:
            checks.check(path in proc.stderr and "Segmentation" not in proc.stderr and proc.returncode == 1,
                         f"malformed {label}: error must name the file and exit 1: rc {proc.returncode} "
                         f"{proc.stderr.strip()}")


def main():
    checks = Checks()
    with tempfile.TemporaryDirectory(prefix="grpo_ref_st_") as tmp:
        check_python_to_ours(checks, tmp)
        check_ours_to_python(checks, tmp)
        check_sharded(checks, tmp)
        check_malformed(checks, tmp)
    checks.finish()


if __name__ == "__main__":
    main()
