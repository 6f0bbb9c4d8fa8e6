"""grpo::Tokenizer and grpo::train_bpe against Hugging Face `tokenizers`.

(a) Python trains byte-level BPE tokenizers (DeepSeek-V3's pre-tokenizer; GPT-2's ByteLevel
    regex with a prefix space; merges in "a b" string form; added tokens with lstrip/rstrip/
    single_word; a BOS post-processor); our encode must equal Python's token for token and
    our decode string for string, on every corpus line and on random id sequences that cut
    multi-byte characters.
(b) Our trainer writes tokenizer.json; Python loads it and must encode every line as we do;
    transformers loads the folder and renders the chat template.
"""
import json
import os
import random
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from refutil import Checks, ref_tool, require  # noqa: E402

(tokenizers,) = require("tokenizers")
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers  # noqa: E402

BOS, EOS = "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"
SPECIALS = [BOS, EOS, "<｜▁pad▁｜>", "<｜User｜>", "<｜Assistant｜>", "<think>", "</think>"]

# DeepSeek-V3's three Split patterns, typed here independently of the C++ copy
# (\u escapes for the CJK ranges; real CR/LF characters as in its tokenizer.json).
DS_NUM = r"\p{N}{1,3}"
DS_CJK = "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+"
DS_MAIN = ("[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+|"
           " ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+")

WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "It's", "we'll", "don't", "GRPO",
         "DeepSeek", "token", "tokenizer", "x", "y", "café", "naïve", "Ελληνικά", "русский", "العربية",
         "हिन्दी", "e\u0301", "한국어", "ไทย", "Straße", "ﬁ", "Ⅻ", "²", "½", "٣٤٥"]
CJK = ["中文", "数学问题", "日本語", "ひらがな", "カタカナ", "漢字とかな", "答案是", "龥", "㐀"]
EMOJI = ["🙂", "👍🏽", "👨‍👩‍👧", "🇺🇳", "❤️", "🚀", "😀😃"]
PUNCT = [".", ",", "!", "?", "...", "!!!", "(", ")", "[", "]", "{", "}", "<", ">", "</", "'", "\"", "`", "#", "$",
         "%", "^", "&", "*", "-", "--", "_", "=", "+", "|", "\\", "/", ":", ";", "~", "@", ".Net", "#include",
         "->", "::", "。", "，", "：", "“", "”"]
SPACES = [" ", " ", " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n ", "\t\t ", "\u00a0", "\u3000", "\u0085",
          "\u2028", "\u180e", "\u200b", "\ufeff", "\u000b", "\u000c"]


def numbers(rng):
    return rng.choice([str(rng.randrange(10)), str(rng.randrange(10**7)), f"{rng.random() * 1000:.4f}",
                       "2024-01-31", "1,234,567", "-42", "3.14159265358979", "0x7f", "1e-6", "٣٤٥"])


def make_corpus(rng, lines, with_specials):
    corpus = []
    for _ in range(lines):
        parts = []
        for _ in range(rng.randrange(3, 25)):
            kind = rng.random()
            if kind < 0.40:
                parts.append(rng.choice(WORDS))
            elif kind < 0.50:
                parts.append(rng.choice(CJK))
            elif kind < 0.57:
                parts.append(rng.choice(EMOJI))
            elif kind < 0.67:
                parts.append(numbers(rng))
            elif kind < 0.80:
                parts.append(rng.choice(PUNCT))
            elif kind < 0.97 or not with_specials:
                parts.append(rng.choice(SPACES))
            else:
                parts.append(rng.choice(SPECIALS))
            if rng.random() < 0.6:
                parts.append(" ")
        corpus.append("".join(parts))
    corpus += ["", " ", "\n", "1234567890", "   leading", "trailing   ", "a\r\nb\r\n\r\n", "<think>\nx\n</think>\n\n",
               BOS + "Hi" + EOS, "<think><think>", "数学 123 数学123数学", "Ⅻ and ① and ½", "word<tool>word  <tool>  x",
               "hello hellohello hello"]
    return corpus


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def ours_encode(tok_path, texts, add_special_tokens, work):
    inp, out = os.path.join(work, "enc_in.jsonl"), os.path.join(work, "enc_out.jsonl")
    write_jsonl(inp, [{"text": t, "add_special_tokens": add_special_tokens} for t in texts])
    ref_tool("tokenizer-encode", tok_path, inp, out)
    return [row["ids"] for row in read_jsonl(out)]


def ours_decode(tok_path, id_lists, skip_special_tokens, work):
    inp, out = os.path.join(work, "dec_in.jsonl"), os.path.join(work, "dec_out.jsonl")
    write_jsonl(inp, [{"ids": ids, "skip_special_tokens": skip_special_tokens} for ids in id_lists])
    ref_tool("tokenizer-decode", tok_path, inp, out)
    return [row["text"] for row in read_jsonl(out)]


def compare(checks, name, tok_path, corpus, work, rng, lossless=True):
    """Encode/decode every line with both implementations and compare; `lossless`: decode(encode(t)) == t."""
    py = Tokenizer.from_file(tok_path)
    for add in (False, True):
        ours = ours_encode(tok_path, corpus, add, work)
        theirs = [py.encode(t, add_special_tokens=add).ids for t in corpus]
        bad = [i for i in range(len(corpus)) if ours[i] != theirs[i]]
        for i in bad[:3]:
            print(f"  {name} line {i} {corpus[i]!r}\n    ours   {ours[i]}\n    python {theirs[i]}")
        checks.check(not bad, f"{name}: encode(add_special_tokens={add}) differs on {len(bad)}/{len(corpus)} lines")
    # Decode the lines' own ids, then random id sequences (random ids cut multi-byte characters).
    ids = [py.encode(t).ids for t in corpus]
    size = py.get_vocab_size(with_added_tokens=True)
    ids += [[rng.randrange(size) for _ in range(rng.randrange(1, 12))] for _ in range(300)]
    ids += [[py.token_to_id(c) for c in "\u00e4\u00b8"]]  # first two bytes of "中" (e4 b8 ad)
    for skip in (False, True):
        ours = ours_decode(tok_path, ids, skip, work)
        theirs = [py.decode(x, skip_special_tokens=skip) for x in ids]
        bad = [i for i in range(len(ids)) if ours[i] != theirs[i]]
        for i in bad[:3]:
            print(f"  {name} ids {ids[i]}\n    ours   {ours[i]!r}\n    python {theirs[i]!r}")
        checks.check(not bad, f"{name}: decode(skip_special_tokens={skip}) differs on {len(bad)}/{len(ids)} sequences")
    lossy = sum("\ufffd" in t for t in ours)
    checks.check(lossy > 0, f"{name}: no decoded sequence exercised U+FFFD replacement")
    if not lossless:  # a prefix space or lstrip/rstrip tokens change the text by design
        return
    roundtrip = [t for t, back in zip(corpus, ours_decode(tok_path, ours_encode(tok_path, corpus, False, work), False, work))
                 if t != back]
    checks.check(not roundtrip, f"{name}: text -> ids -> text changed {len(roundtrip)} lines, e.g. {roundtrip[:1]!r}")


def python_trained(corpus, pre, added, post, path):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1200, min_frequency=2, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus, trainer)
    if added:
        tok.add_tokens(added)
    if post:
        tok.post_processor = processors.TemplateProcessing(single=f"{BOS} $A", special_tokens=[(BOS, 0)])
    tok.save(path)
    return path


def main():
    checks = Checks()
    rng = random.Random(1234)
    train_corpus = make_corpus(rng, 1500, with_specials=True)
    test_corpus = make_corpus(rng, 400, with_specials=True)
    with tempfile.TemporaryDirectory() as work:
        # (a1) DeepSeek-V3 pre-tokenizer, BOS template, added tokens with strip / single-word flags.
        ds_pre = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(DS_NUM), behavior="isolated", invert=False),
            pre_tokenizers.Split(Regex(DS_CJK), behavior="isolated", invert=False),
            pre_tokenizers.Split(Regex(DS_MAIN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)])
        added = [AddedToken("<tool>", lstrip=True, rstrip=True, normalized=True),
                 AddedToken("hello", single_word=True, normalized=False)]
        path = python_trained(train_corpus, ds_pre, added, True, os.path.join(work, "ds.json"))
        with open(path, encoding="utf-8") as f:
            saved = json.load(f)
        checks.check(saved["pre_tokenizer"]["pretokenizers"][2]["pattern"]["Regex"] == DS_MAIN,
                     "DeepSeek main pattern survives the save")
        compare(checks, "deepseek-split", path, test_corpus, work, rng, lossless=False)

        # (a2) GPT-2 style: ByteLevel with its own regex and a prefix space; merges as "a b" strings.
        gpt2_pre = pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)
        path = python_trained(train_corpus, gpt2_pre, None, False, os.path.join(work, "gpt2.json"))
        with open(path, encoding="utf-8") as f:
            j = json.load(f)
        j["model"]["merges"] = [" ".join(m) if isinstance(m, list) else m for m in j["model"]["merges"]]
        with open(path, "w", encoding="utf-8") as f:
            json.dump(j, f, ensure_ascii=False)
        compare(checks, "gpt2-bytelevel", path, test_corpus, work, rng, lossless=False)

        # (a3) Split behaviours other than Isolated, and Digits.
        misc_pre = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(r"\s+"), behavior="merged_with_previous"),
            pre_tokenizers.Split(Regex(r"[,.]"), behavior="merged_with_next"),
            pre_tokenizers.Split(Regex(r"\p{P}"), behavior="contiguous"),
            pre_tokenizers.Split("--", behavior="removed"),
            pre_tokenizers.Split(Regex(r"\p{L}+"), behavior="isolated", invert=True),
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
        path = python_trained(train_corpus, misc_pre, None, False, os.path.join(work, "misc.json"))
        compare(checks, "split-behaviours", path, test_corpus, work, rng, lossless=False)

        # (b) Our trainer -> tokenizer.json -> Python.
        corpus_path = os.path.join(work, "corpus.jsonl")
        write_jsonl(corpus_path, [{"text": t} for t in train_corpus])
        out_dirs = [os.path.join(work, "ours1"), os.path.join(work, "ours2")]
        for d in out_dirs:
            os.makedirs(d)
            ref_tool("tokenizer-train", corpus_path, d, 1000, *SPECIALS)
        ours_path = os.path.join(out_dirs[0], "tokenizer.json")
        with open(ours_path, "rb") as f1, open(os.path.join(out_dirs[1], "tokenizer.json"), "rb") as f2:
            checks.check(f1.read() == f2.read(), "our trainer writes the same tokenizer.json twice")
        py = Tokenizer.from_file(ours_path)
        checks.check(py.get_vocab_size(with_added_tokens=True) == 1000, f"trained vocab size {py.get_vocab_size()} != 1000")
        checks.check([py.token_to_id(s) for s in SPECIALS] == list(range(len(SPECIALS))), "special tokens take ids 0..6")
        compare(checks, "our-trainer", ours_path, test_corpus, work, rng)

        try:
            (transformers,) = require("transformers")
            hf = transformers.AutoTokenizer.from_pretrained(out_dirs[0])
            chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "1+1?"},
                    {"role": "assistant", "content": "2"}, {"role": "user", "content": "2+2?"}]
            text = hf.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
            want = BOS + "Be brief.<｜User｜>1+1?<｜Assistant｜>2" + EOS + "<｜User｜>2+2?<｜Assistant｜>"
            checks.check(text == want, f"chat template renders {text!r}")
            checks.check(hf.bos_token == BOS and hf.eos_token_id == 1, "tokenizer_config bos/eos")
            checks.check(ours_encode(ours_path, [text], False, work)[0] == hf(text, add_special_tokens=False)["input_ids"],
                         "transformers encodes the rendered chat as we do")
        except SystemExit:
            print("transformers missing: chat template check skipped")
    checks.finish()


if __name__ == "__main__":
    main()
