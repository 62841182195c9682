"""The graph under a manifest: the manifests an index names (each fetched once, however many paths lead
to it) and the blobs they reference, in the order `copy` moves them (children before parents)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from modelpack.errors import UnsupportedArtifactError
from modelpack.oci.descriptor import Descriptor, Index, Manifest, parse_manifest
from modelpack.store.target import ReadableStorage

MAX_INDEX_DEPTH = 16  # indexes within indexes: real images use one level, artifacts none
MAX_GRAPH_MANIFESTS = 1000  # manifests in one graph: a multi-platform image with attestations has ~50


@dataclass
class Graph:
    """A manifest and everything it references, each manifest fetched once: an index that names a child
    twice (or a diamond, 40 levels deep) costs one fetch per distinct node, not one per path."""

    nodes: dict[str, tuple[Descriptor, bytes, Manifest | Index]]
    blobs: list[Descriptor]  # the configs, and the layers `layer_filter` takes
    layer_filter: Callable[[Descriptor], bool] | None = None
    layers: int = 0  # layers in all, taken or not
    taken: int = 0

    def node_blobs(self, node: Manifest) -> list[Descriptor]:
        """A manifest's config and the layers the filter takes."""
        keep = self.layer_filter
        return [node.config, *(layer for layer in node.layers if keep is None or keep(layer))]

    @classmethod
    def walk(cls, src: ReadableStorage, root: Descriptor, data: bytes,
             layer_filter: Callable[[Descriptor], bool] | None = None) -> Graph:
        """Fetch the graph under `root` (whose bytes are `data`); `layer_filter` leaves layers out.

        Raises:
            UnsupportedArtifactError: indexes nested deeper than MAX_INDEX_DEPTH, or more than
                MAX_GRAPH_MANIFESTS manifests in all.
        """
        nodes: dict[str, tuple[Descriptor, bytes, Manifest | Index]] = {root.digest: (root, data, parse_manifest(data))}
        graph = cls(nodes, [], layer_filter)
        level = [root.digest]
        for depth in range(MAX_INDEX_DEPTH + 1):
            following: list[str] = []
            for digest in level:
                node = nodes[digest][2]
                if isinstance(node, Manifest):
                    taken = graph.node_blobs(node)
                    graph.blobs.extend(taken)
                    graph.layers, graph.taken = graph.layers + len(node.layers), graph.taken + len(taken) - 1
                    continue
                if depth == MAX_INDEX_DEPTH:
                    raise UnsupportedArtifactError(f"{root.digest} nests indexes more than {MAX_INDEX_DEPTH} "
                                                   "levels deep; refused")
                for child in node.manifests:
                    if child.digest in nodes:
                        continue
                    if len(nodes) >= MAX_GRAPH_MANIFESTS:
                        raise UnsupportedArtifactError(f"{root.digest} references more than {MAX_GRAPH_MANIFESTS} "
                                                       "manifests; refused")
                    child_desc, child_data = src.fetch_manifest(child.digest)
                    nodes[child.digest] = (child_desc, child_data, parse_manifest(child_data))
                    following.append(child.digest)
            level = following
        graph.blobs = unique(graph.blobs)
        return graph


def unique(descs: list[Descriptor]) -> list[Descriptor]:
    """Each digest once (its first descriptor), in order: a blob named twice moves once."""
    seen: dict[str, Descriptor] = {}
    for desc in descs:
        seen.setdefault(desc.digest, desc)
    return list(seen.values())
