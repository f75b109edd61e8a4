#!/usr/bin/env python3
"""Builds all-MiniLM-L6-v2 as an ONNX graph from the shipped safetensors, fp32
and int8, and checks both against sentence-transformers' vectors.

Why by hand: the usual exporters (optimum, torch.onnx) need torch, and PyPI's
torch is the CUDA build (several GB with its nvidia wheels; the CPU-only wheels
are not on PyPI). A BERT encoder is a few standard ONNX operators, so the graph
is written here with the `onnx` helper API from the weights in
model.safetensors, the same file the candle path loads. int8 is onnxruntime's
dynamic quantization (weights int8, activations quantized per call).

Outputs, beside the model (`<model dir>/onnx/`):
    model.onnx        fp32; inputs input_ids, attention_mask, token_type_ids
                      (int64 [batch, sequence]); output last_hidden_state
                      (float [batch, sequence, 384]); pooling stays with the caller
    model_qint8.onnx  the same, int8 weights per channel (MatMulInteger), the
                      FFN output projections kept fp32 (see main)
Then, for each, the cosine of its mean-pooled, normalised vectors to the
reference fixture crates/rag-embed/tests/fixtures/minilm_reference.json
(sentence-transformers 6.2.0): at least 0.999 for fp32 and 0.99 for int8, or
the script fails.

scripts/fetch-model.sh runs it in the throwaway venv scripts/onnx-venv.sh
makes (onnx, safetensors, numpy, onnxruntime, tokenizers):
    "$(scripts/onnx-venv.sh)" scripts/export-onnx.py [MODEL_DIR]
"""

import json
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file

REPO = Path(__file__).resolve().parent.parent
MODEL_DIR = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / ".local/models/all-MiniLM-L6-v2"
FIXTURE = REPO / "crates/rag-embed/tests/fixtures/minilm_reference.json"
OPSET = 17  # LayerNormalization is an operator from opset 17
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model
# Raised whenever the graphs this script writes change, so that
# scripts/fetch-model.sh exports existing models again.
EXPORT_VERSION = 2


def build(weights, config):
    hidden = config["hidden_size"]
    heads = config["num_attention_heads"]
    head = hidden // heads
    eps = config["layer_norm_eps"]
    nodes, inits = [], []

    def init(name, array):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def const(name, values, dtype=np.int64):
        return init(name, np.array(values, dtype=dtype))

    def node(op, inputs, name, **attrs):
        nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def linear(x, prefix, out):
        # torch Linear keeps [out, in]: x @ W^T + b.
        w = init(f"{prefix}.weight_t", weights[f"{prefix}.weight"].T)
        b = init(f"{prefix}.bias", weights[f"{prefix}.bias"])
        return node("Add", [node("MatMul", [x, w], f"{out}_mm"), b], out)

    def layer_norm(x, prefix, out):
        g = init(f"{prefix}.weight", weights[f"{prefix}.weight"])
        b = init(f"{prefix}.bias", weights[f"{prefix}.bias"])
        return node("LayerNormalization", [x, g, b], out, axis=-1, epsilon=eps)

    # Embeddings: word + position + token type, then LayerNorm.
    # The first `sequence` rows of the position table ([sequence, hidden],
    # broadcast over the batch).
    seq_len = node("Gather", [node("Shape", ["input_ids"], "ids_shape"), const("dim1", [1])], "seq_len")
    words = node("Gather", [init("word_embeddings", weights["embeddings.word_embeddings.weight"]), "input_ids"], "words")
    pos = node(
        "Slice",
        [init("position_embeddings", weights["embeddings.position_embeddings.weight"]), const("start0", [0]), seq_len, const("axis0", [0])],
        "pos",
    )
    types = node(
        "Gather", [init("token_type_embeddings", weights["embeddings.token_type_embeddings.weight"]), "token_type_ids"], "types"
    )
    x = node("Add", [node("Add", [words, pos], "words_pos"), types], "embedded")
    x = layer_norm(x, "embeddings.LayerNorm", "hidden_0")

    # Additive attention mask: 0 where attended, -10000 on padding (BERT's).
    mask = node("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    mask = node("Unsqueeze", [mask, const("mask_axes", [1, 2])], "mask_4d")
    mask = node(
        "Mul",
        [node("Sub", [init("one_f", np.array(1.0, np.float32)), mask], "mask_inv"), init("neg", np.array(-10000.0, np.float32))],
        "mask_add",
    )
    split_shape = const("split_shape", [0, 0, heads, head])
    merge_shape = const("merge_shape", [0, 0, hidden])
    scale = init("scale", np.array(1.0 / np.sqrt(head), np.float32))
    sqrt_half = init("sqrt_half", np.array(1.0 / np.sqrt(2.0), np.float32))
    half = init("half", np.array(0.5, np.float32))
    one = init("one_gelu", np.array(1.0, np.float32))

    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}"

        def heads_of(t, name, perm):
            return node("Transpose", [node("Reshape", [t, split_shape], f"{name}_r")], name, perm=perm)

        q = heads_of(linear(x, f"{p}.attention.self.query", f"l{i}_q"), f"l{i}_qh", [0, 2, 1, 3])
        k = heads_of(linear(x, f"{p}.attention.self.key", f"l{i}_k"), f"l{i}_kh", [0, 2, 3, 1])
        v = heads_of(linear(x, f"{p}.attention.self.value", f"l{i}_v"), f"l{i}_vh", [0, 2, 1, 3])
        scores = node("Mul", [node("MatMul", [q, k], f"l{i}_qk"), scale], f"l{i}_scaled")
        probs = node("Softmax", [node("Add", [scores, mask], f"l{i}_masked")], f"l{i}_probs", axis=-1)
        ctx = node("Transpose", [node("MatMul", [probs, v], f"l{i}_ctx_h")], f"l{i}_ctx_t", perm=[0, 2, 1, 3])
        ctx = node("Reshape", [ctx, merge_shape], f"l{i}_ctx")
        attn = linear(ctx, f"{p}.attention.output.dense", f"l{i}_attn")
        x = layer_norm(node("Add", [attn, x], f"l{i}_attn_res"), f"{p}.attention.output.LayerNorm", f"l{i}_attn_out")
        # GELU, erf form (BERT's "gelu"): 0.5 x (1 + erf(x / sqrt 2)).
        h = linear(x, f"{p}.intermediate.dense", f"l{i}_inter")
        erf = node("Erf", [node("Mul", [h, sqrt_half], f"l{i}_h_s")], f"l{i}_erf")
        h = node("Mul", [node("Mul", [h, half], f"l{i}_h_half"), node("Add", [erf, one], f"l{i}_erf1")], f"l{i}_gelu")
        out = linear(h, f"{p}.output.dense", f"l{i}_out")
        x = layer_norm(node("Add", [out, x], f"l{i}_out_res"), f"{p}.output.LayerNorm", f"l{i}_hidden")

    nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"], name="last_hidden_state"))
    ints = lambda name: helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "sequence"])  # noqa: E731
    graph = helper.make_graph(
        nodes,
        "all-MiniLM-L6-v2",
        [ints("input_ids"), ints("attention_mask"), ints("token_type_ids")],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "sequence", hidden])],
        inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="amplify-rag-async scripts/export-onnx.py",
    )
    model.ir_version = 9
    onnx.checker.check_model(model, full_check=True)
    return model


def embed(session, tokenizer, texts):
    """Mean-pooled, normalised vectors, as sentence-transformers makes them."""
    encodings = tokenizer.encode_batch(texts)
    width = max(len(e.ids) for e in encodings)
    pad = lambda rows: np.array([r + [0] * (width - len(r)) for r in rows], dtype=np.int64)  # noqa: E731
    ids = pad([e.ids for e in encodings])
    mask = pad([e.attention_mask for e in encodings])
    (hidden,) = session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})
    summed = (hidden * mask[..., None]).sum(axis=1)
    pooled = summed / np.clip(mask.sum(axis=1, keepdims=True), 1, None)
    return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def main():
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from tokenizers import Tokenizer

    config = json.loads((MODEL_DIR / "config.json").read_text())
    weights = load_file(str(MODEL_DIR / "model.safetensors"))
    out_dir = MODEL_DIR / "onnx"
    out_dir.mkdir(exist_ok=True)
    # Written under temporary names and renamed once both pass the check
    # below, so an interrupted or failed export never leaves a graph that
    # looks complete.
    final = [out_dir / "model.onnx", out_dir / "model_qint8.onnx"]
    fp32, int8 = (path.with_name(path.name + ".tmp") for path in final)
    onnx.save(build(weights, config), str(fp32))
    # Weights int8 per output channel, except each layer's FFN output
    # projection (1536 -> 384), which stays fp32. Measured against the
    # fixture (min / mean cosine): every weight MatMul per tensor 0.888 /
    # 0.944; per channel 0.984 / 0.992; per channel without the FFN output
    # projections 0.9935 / 0.9958 (without the FFN input ones 0.991, without
    # layer 0 0.993); reduce_range and uint8 weights did worse. The
    # activation x activation MatMuls of attention are never quantized.
    # The embedding tables (Gather) are int8 too: the file goes from 69 to
    # 34 MB and a session loads in 63 ms instead of 109 (the cold start's
    # largest part), for 0.9944 / 0.9967 against 0.9955 / 0.9969 one text at
    # a time.
    quantize_dynamic(
        str(fp32),
        str(int8),
        op_types_to_quantize=["MatMul", "Gather"],
        per_channel=True,
        nodes_to_exclude=[f"l{i}_out_mm" for i in range(config["num_hidden_layers"])],
        weight_type=QuantType.QInt8,
    )

    fixture = json.loads(FIXTURE.read_text())
    tokenizer = Tokenizer.from_file(str(MODEL_DIR / "tokenizer.json"))
    tokenizer.enable_truncation(MAX_TOKENS)
    tokenizer.no_padding()
    reference = np.array(fixture["embeddings"], dtype=np.float32)
    ok = True
    for path, floor in [(fp32, 0.999), (int8, 0.99)]:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        vectors = embed(session, tokenizer, fixture["sentences"])
        cosines = (vectors * reference).sum(axis=1)
        worst = float(cosines.min())
        print(f"{path.name}: {path.stat().st_size / 1e6:.1f} MB, cosine to sentence-transformers min {worst:.6f} mean {float(cosines.mean()):.6f} (floor {floor})", file=sys.stderr)
        ok &= worst >= floor
    if not ok:
        sys.exit("an exported graph does not reproduce sentence-transformers' vectors")
    for tmp, path in zip([fp32, int8], final):
        tmp.replace(path)
    # Last: scripts/fetch-model.sh exports again when this differs.
    (out_dir / "EXPORT_VERSION").write_text(f"{EXPORT_VERSION}\n")


if __name__ == "__main__":
    main()
