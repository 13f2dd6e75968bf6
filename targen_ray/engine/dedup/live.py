"""Stage 5's embeddings made while step 4 is still answering: the rows it keeps are embedded as it
writes them, so that after the last model call stage 5 has little left but its decision.

Step 4 waits on the provider, not on CPUs, so the CPUs its workers leave free embed meanwhile: one
actor to start with, another (up to `embed.most_workers`) while each one has work queued and a CPU is
free (by Ray's count, less what the actors already use), spread over the nodes that have CPUs. A row no actor took
(they were all behind, no CPU was free, or the run died first) is embedded by stage 5 afterwards, on
every CPU, skipping each row already stored: overlapped or not, each row is embedded once and stage 5
decides on the same vectors.
"""

from __future__ import annotations

import math
from functools import partial

import pyarrow as pa
import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from ..job import Job
from ..store import RunDir
from .embed import Embedder, most_workers

QUEUED = 2  # batches an actor may have waiting; past that another starts, or stage 5 takes the rows


_Embedder = ray.remote(Embedder)  # stage 5's own actor, here outside a Ray Data pool


class LiveEmbedding:
    """Takes the rows step 4 keeps (`add`, in the driver's write loop) and stores their features under
    `where`/`round_id` as they come back; `close` waits for what is in flight."""

    def __init__(self, job: Job, run: RunDir, where: str, round_id: str, transform):
        self.d, self.run, self.where, self.round_id = job.spec.dedup, run, where, round_id
        self.transform = partial(transform, names=job.task.text_fields)
        self.most = most_workers(self.d)
        self.actors: list = []
        self.threads: dict[int, int] = {}  # CPUs each actor uses (they reserve none: see _actor)
        self.node_of: dict[int, str] = {}  # the node each actor was placed on
        self.queued: dict = {}  # in-flight result -> the actor computing it
        self.made = 0

    def add(self, rows: pa.Table) -> None:
        self.collect()
        actor = self._actor()
        if actor is not None and rows.num_rows:
            self.queued[actor.__call__.remote(rows.select(["id", "instance"]))] = actor

    def _actor(self):
        """The actor with the least queued while it has fewer than QUEUED batches waiting, else a new
        one if a CPU is free, else None: the rows are left to stage 5, so the embedding never falls
        more than QUEUED batches per actor behind step 4 (what it still has queued when step 4 ends
        is all stage 5 waits for here)."""
        load = {id(a): 0 for a in self.actors}
        for a in self.queued.values():
            load[id(a)] += 1
        idle = min(self.actors, key=lambda a: load[id(a)], default=None)
        if idle is not None and load[id(idle)] < QUEUED:
            return idle
        if len(self.actors) >= self.most:
            return None
        # The actors reserve no CPU of Ray's: a CPU they held could leave what the running stage needs
        # (a step's worker actor, say) unscheduled for good. They count the CPUs they use against Ray's
        # free ones themselves.
        threads = max(1, int(self.d.worker_cpus))
        free = ray.available_resources().get("CPU", 0) - sum(self.threads.values())
        threads = min(threads, math.floor(free))
        if threads < 1:
            return None
        node = self._node()  # strict: an actor whose node dies is dropped, and stage 5 takes its rows
        actor = _Embedder.options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False))
        actor = actor.remote(self.d.backend, threads, self.transform)
        self.actors.append(actor)
        self.threads[id(actor)], self.node_of[id(actor)] = threads, node
        return actor

    def _node(self) -> str:
        """The node with CPUs that runs the fewest of these actors (they reserve none, so Ray would not
        keep them off a head node without CPUs, nor spread them)."""
        nodes = [n["NodeID"] for n in ray.nodes() if n["Alive"] and n["Resources"].get("CPU", 0) > 0]
        placed = list(self.node_of.values())
        return min(nodes, key=placed.count)

    def collect(self, wait: bool = False) -> None:
        """Store the results that are back (with `wait`, all of them)."""
        if not self.queued:
            return
        done, _ = ray.wait(list(self.queued), num_returns=len(self.queued), timeout=None if wait else 0)
        for ref in done:
            actor = self.queued.pop(ref)
            try:
                table = ray.get(ref)
            except ray.exceptions.RayError:  # its node died, say: stage 5 embeds these rows afterwards
                self.actors = [a for a in self.actors if a is not actor]
                self.threads.pop(id(actor), None)
                self.node_of.pop(id(actor), None)
                continue
            self.run.write_part(self.where, self.round_id, table)
            self.made += table.num_rows

    def close(self) -> int:
        """Wait for every row in flight, merge the parts, stop the actors; returns the rows embedded."""
        try:
            self.collect(wait=True)
        finally:
            for actor in self.actors:
                ray.kill(actor)
        self.run.compact(self.where, self.round_id)
        return self.made
