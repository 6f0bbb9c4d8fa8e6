"""Model config (issue 2 item 3): configs we write load in transformers.DeepseekV3Config with the
same values; the real 671B values and transformers-written configs parse; bad configs fail
with a message naming the key."""
import json
import os
import sys
import tempfile

from refutil import Checks, ref_tool, require, source_dir

(transformers,) = require("transformers")
from transformers import DeepseekV3Config  # noqa: E402

checks = Checks()
tmp = tempfile.mkdtemp(prefix="grpo_test_config_")

INT_KEYS = ["vocab_size", "hidden_size", "intermediate_size", "moe_intermediate_size", "num_hidden_layers",
            "first_k_dense_replace", "n_routed_experts", "n_shared_experts", "num_experts_per_tok", "n_group",
            "topk_group", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim",
            "num_attention_heads", "num_key_value_heads", "max_position_embeddings", "bos_token_id",
            "eos_token_id"]
FLOAT_KEYS = ["routed_scaling_factor", "rms_norm_eps", "initializer_range"]
OTHER_KEYS = ["norm_topk_prob", "hidden_act", "tie_word_embeddings"]
YARN_KEYS = ["factor", "original_max_position_embeddings", "beta_fast", "beta_slow", "mscale", "mscale_all_dim"]

# The real DeepSeek-V3 values (spec §1.1; the hub config.json of the V3/R1 family).
CONFIG_671B = {
    "architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3",
    "vocab_size": 129280, "hidden_size": 7168, "intermediate_size": 18432, "moe_intermediate_size": 2048,
    "num_hidden_layers": 61, "first_k_dense_replace": 3, "n_routed_experts": 256, "n_shared_experts": 1,
    "num_experts_per_tok": 8, "n_group": 8, "topk_group": 4, "routed_scaling_factor": 2.5,
    "scoring_func": "sigmoid", "topk_method": "noaux_tc", "norm_topk_prob": True, "q_lora_rank": 1536,
    "kv_lora_rank": 512, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128,
    "num_attention_heads": 128, "num_key_value_heads": 128, "max_position_embeddings": 163840,
    "rope_theta": 10000, "rope_scaling": {"type": "yarn", "factor": 40, "original_max_position_embeddings": 4096,
                                          "beta_fast": 32, "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 1.0},
    "rms_norm_eps": 1e-06, "hidden_act": "silu", "num_nextn_predict_layers": 1, "tie_word_embeddings": False,
    "quantization_config": {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                            "weight_block_size": [128, 128]},
    "bos_token_id": 0, "eos_token_id": 1, "initializer_range": 0.02, "moe_layer_freq": 1, "ep_size": 1,
    "attention_bias": False, "attention_dropout": 0.0, "torch_dtype": "bfloat16", "use_cache": True,
    "auto_map": {"AutoConfig": "configuration_deepseek.DeepseekV3Config"},
}


def write(obj, name):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        json.dump(obj, f)
    return path


def ours(src, name):
    """Runs our parser + writer on src; returns the folder holding the written config.json."""
    out_dir = os.path.join(tmp, name)
    os.makedirs(out_dir, exist_ok=True)
    ref_tool("model_config", src, os.path.join(out_dir, "config.json"))
    return out_dir


def compare_hf(expected, hf, what):
    for key in INT_KEYS + FLOAT_KEYS + OTHER_KEYS:
        got = getattr(hf, key)
        checks.check(got == expected[key], f"{what}: {key}: transformers reads {got!r}, expected {expected[key]!r}")
    q = expected["q_lora_rank"] or None
    checks.check(hf.q_lora_rank == q, f"{what}: q_lora_rank {hf.q_lora_rank!r} != {q!r}")
    checks.check(hf.num_nextn_predict_layers == expected["num_nextn_predict_layers"], f"{what}: num_nextn_predict_layers")
    rp = hf.rope_parameters
    checks.check(rp.get("rope_type") == "yarn", f"{what}: rope_type {rp.get('rope_type')!r}")
    checks.check(float(rp.get("rope_theta")) == float(expected["rope_theta"]), f"{what}: rope_theta")
    for key in YARN_KEYS:
        checks.check(float(rp.get(key)) == float(expected["rope_scaling"][key]),
                     f"{what}: rope_parameters.{key} = {rp.get(key)!r}, expected {expected['rope_scaling'][key]!r}")
    qc = getattr(hf, "quantization_config", None)
    if "quantization_config" in expected:
        qc = qc if isinstance(qc, dict) else (qc.to_dict() if qc is not None else None)
        checks.check(qc is not None and all(qc.get(k) == v for k, v in expected["quantization_config"].items()),
                     f"{what}: quantization_config {qc!r}")


# 1. Shipped tiny configs and the 671B config: ours -> transformers, same values.
for name in ["tiny.json", "tiny_direct_q.json"]:
    src = os.path.join(source_dir(), "model", "configs", name)
    expected = json.load(open(src))
    out = ours(src, "ours_" + name)
    compare_hf(expected, DeepseekV3Config.from_pretrained(out), name)
    written = json.load(open(os.path.join(out, "config.json")))
    checks.check(written["q_lora_rank"] == expected["q_lora_rank"], f"{name}: q_lora_rank written as {written['q_lora_rank']!r}")

out = ours(write(CONFIG_671B, "v3.json"), "ours_671b")
written = json.load(open(os.path.join(out, "config.json")))
compare_hf(CONFIG_671B, DeepseekV3Config.from_pretrained(out), "671B")
for key, value in CONFIG_671B.items():  # every key survives the round trip (unknown ones too)
    checks.check(key in written and written[key] == value, f"671B round trip: {key}: {written.get(key)!r} != {value!r}")

# 2. A config transformers wrote (rope_parameters form, derived keys) parses to the same values.
hf_cfg = DeepseekV3Config(**{k: v for k, v in json.load(open(os.path.join(source_dir(), "model", "configs", "tiny.json"))).items()
                             if k not in ("architectures", "model_type", "quantization_config")})
hf_dir = os.path.join(tmp, "hf_written")
hf_cfg.save_pretrained(hf_dir)
checks.check("rope_parameters" in json.load(open(os.path.join(hf_dir, "config.json"))), "transformers writes rope_parameters")
back = json.load(open(os.path.join(ours(hf_dir, "ours_from_hf"), "config.json")))
for key in INT_KEYS + FLOAT_KEYS + OTHER_KEYS + ["q_lora_rank"]:
    checks.check(back[key] == getattr(hf_cfg, key), f"from transformers: {key}: {back[key]!r} != {getattr(hf_cfg, key)!r}")
for key in YARN_KEYS:
    checks.check(float(back["rope_scaling"][key]) == float(hf_cfg.rope_parameters[key]), f"from transformers: rope {key}")
checks.check("head_dim" not in back and "qk_head_dim" not in back, "derived keys are recomputed, not copied")

# 3. Bad configs fail and name the key (and the rule).
base = json.load(open(os.path.join(source_dir(), "model", "configs", "tiny.json")))
BAD = [
    ({"n_routed_experts": 15}, "n_routed_experts", "n_group"),
    ({"n_group": 16}, "n_group", "top-2"),
    ({"topk_group": 5}, "topk_group", "n_group"),
    ({"num_experts_per_tok": 9}, "num_experts_per_tok", "topk_group"),
    ({"qk_rope_head_dim": 15}, "qk_rope_head_dim", "even"),
    ({"hidden_size": 200}, "hidden_size", "multiple of 128"),
    ({"moe_intermediate_size": 100}, "moe_intermediate_size", "multiple of 128"),
    ({"scoring_func": "softmax"}, "scoring_func", "sigmoid"),
    ({"topk_method": "greedy"}, "topk_method", "noaux_tc"),
    ({"vocab_size": "512"}, "vocab_size", "integer"),
    ({"first_k_dense_replace": 9}, "first_k_dense_replace", "num_hidden_layers"),
    ({"rope_scaling": {"type": "linear", "factor": 2.0}}, "rope_scaling.type", "yarn"),
    ({"rope_scaling": {"type": "yarn", "factor": "4"}}, "rope_scaling.factor", "number"),
    ({"tie_word_embeddings": True}, "tie_word_embeddings", "false"),
    ({"quantization_config": {"quant_method": "fp8", "fmt": "e4m3", "weight_block_size": [64, 64]}},
     "quantization_config.weight_block_size", "128"),
    ({"model_type": "llama"}, "model_type", "deepseek_v3"),
    ({"eos_token_id": "x"}, "eos_token_id", "integer"),
]
for i, (change, key, rule) in enumerate(BAD):
    path = write({**base, **change}, f"bad{i}.json")
    proc = ref_tool("model_config", path, os.path.join(tmp, f"bad{i}_out.json"), check=False)
    ok = proc.returncode == 1 and f"{path}: {key}:" in proc.stderr and rule in proc.stderr
    checks.check(ok, f"bad config {change}: exit {proc.returncode}, stderr {proc.stderr.strip()!r} should name {key!r} and {rule!r}")
    checks.check(not os.path.exists(os.path.join(tmp, f"bad{i}_out.json")), f"bad config {change}: nothing written")
with open(os.path.join(tmp, "broken.json"), "w") as f:
    f.write("{\"vocab_size\": 512,")
proc = ref_tool("model_config", os.path.join(tmp, "broken.json"), os.path.join(tmp, "x.json"), check=False)
checks.check(proc.returncode == 1 and "not valid JSON" in proc.stderr, f"truncated JSON: {proc.stderr.strip()!r}")

checks.finish()
