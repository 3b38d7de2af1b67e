"""The matcher's ONNX graphs, built in code (nothing to ship, nothing to download).

Search ranks gallery templates g for a query q by the score ``q.g - |g|^2/2``: the squared
Euclidean distance is ``|q|^2 - 2*score``, so the largest scores are the nearest templates and
``|q|^2`` never has to enter the graph. The gallery is stored transposed in blocks, (dim, C),
so ``q @ block`` is a plain MatMul: with one query ONNX Runtime's CPU provider runs it as a
matrix-vector product that streams the block once (measured at the memory bandwidth), where the
(C, dim) layout with ``transB`` packs the block first and ran 2-6x slower. The selection runs
inside the graph, so a run returns (B, k) values whatever the block size; the only temporary is
the (B, C) score matrix.
"""

from __future__ import annotations

import onnx
from onnx import TensorProto, helper

OPSET = 17
# ONNX Runtime 1.18 (the oldest we support) reads IR version 9.
IR_VERSION = 9

VERIFY_INPUTS = ("live", "templates", "threshold")
VERIFY_OUTPUTS = ("distances", "matches")


def _model(graph: onnx.GraphProto) -> onnx.ModelProto:
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="egate.matcher"
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


def verify_graph(dim: int) -> onnx.ModelProto:
    """(B, dim) live and (B, dim) templates, float32 -> (B,) float32 distances, (B,) bool
    matches (distance <= threshold, a float32 scalar).

    Computes the difference directly (not the expanded |a|^2+|b|^2-2ab) so identical vectors
    give exactly 0 and small distances keep their precision.
    """
    nodes = [
        helper.make_node("Sub", ["live", "templates"], ["diff"]),
        helper.make_node("Mul", ["diff", "diff"], ["sq"]),
        helper.make_node(
            "Constant",
            [],
            ["axes"],
            value=helper.make_tensor("axes_v", TensorProto.INT64, [1], [1]),
        ),
        helper.make_node("ReduceSum", ["sq", "axes"], ["sum_sq"], keepdims=0),
        helper.make_node("Sqrt", ["sum_sq"], ["distances"]),
        helper.make_node("LessOrEqual", ["distances", "threshold"], ["matches"]),
    ]
    graph = helper.make_graph(
        nodes,
        "egate_verify",
        [
            helper.make_tensor_value_info("live", TensorProto.FLOAT, ["B", dim]),
            helper.make_tensor_value_info("templates", TensorProto.FLOAT, ["B", dim]),
            helper.make_tensor_value_info("threshold", TensorProto.FLOAT, []),
        ],
        [
            helper.make_tensor_value_info("distances", TensorProto.FLOAT, ["B"]),
            helper.make_tensor_value_info("matches", TensorProto.BOOL, ["B"]),
        ],
    )
    return _model(graph)


def search_graph(dim: int, *, float16: bool, blocks: int = 1, group: int = 1) -> onnx.ModelProto:
    """`blocks` gallery blocks against a batch of queries: the best `group`s of templates.

    Inputs: ``queries`` (B, dim) float32; ``k`` (1,) int64, 1 <= k <= the number of groups;
    and for each block i ``block{i}`` (dim, C_i) float32 or float16 (the block's templates as
    columns, C_i a multiple of `group`) and ``half_sq_norms{i}`` (C_i,) float32, |g|^2/2 of each
    column (+inf for padding columns, which then never win). The blocks' columns are cut into
    consecutive groups of `group` templates, numbered across the blocks in order. Outputs:
    ``scores`` (B, k) float32, the best groups' largest ``q.g - |g|^2/2``, in descending order,
    and ``groups`` (B, k) int64, their numbers (ONNX TopK breaks ties by the lower number).

    Ranking groups by their best score instead of templates by score keeps TopK off the (B, C)
    score matrix: one ReduceMax pass over it (vectorised, ~0.15 ns a score) then a TopK over
    C/group maxima, where a TopK over all scores cost as much as a third of the MatMul at B = 64
    (ONNX Runtime's TopK costs ~3 us a row plus ~0.35 ns an element). Every template of the
    true top k lies in a group ranked within the top k by maximum (a group ranked above it
    holds a template ranked above that template), so the caller re-ranks those groups' members.

    A float16 block is cast to float32 inside the graph (ONNX Runtime has no fast float16 MatMul
    on x86 CPUs); the nodes of one block run before the next block's, so the (dim, C) cast and
    the (B, C) scores of every block reuse the same cache-sized buffers.
    """
    block_type = TensorProto.FLOAT16 if float16 else TensorProto.FLOAT
    nodes = [
        helper.make_node(
            "Constant",
            [],
            ["grouped_shape"],
            value=helper.make_tensor("grouped_shape_v", TensorProto.INT64, [3], [0, -1, group]),
        )
    ]
    inputs = [
        helper.make_tensor_value_info("queries", TensorProto.FLOAT, ["B", dim]),
        helper.make_tensor_value_info("k", TensorProto.INT64, [1]),
    ]
    maxima = []
    for i in range(blocks):
        matrix = f"block{i}"
        if float16:
            nodes.append(
                helper.make_node("Cast", [matrix], [f"block{i}_f32"], to=TensorProto.FLOAT)
            )
            matrix = f"block{i}_f32"
        nodes += [
            helper.make_node("MatMul", ["queries", matrix], [f"dots{i}"]),
            helper.make_node("Sub", [f"dots{i}", f"half_sq_norms{i}"], [f"all_scores{i}"]),
            helper.make_node("Reshape", [f"all_scores{i}", "grouped_shape"], [f"grouped{i}"]),
            helper.make_node("ReduceMax", [f"grouped{i}"], [f"maxima{i}"], axes=[2], keepdims=0),
        ]
        inputs += [
            helper.make_tensor_value_info(f"block{i}", block_type, [dim, f"C{i}"]),
            helper.make_tensor_value_info(f"half_sq_norms{i}", TensorProto.FLOAT, [f"C{i}"]),
        ]
        maxima.append(f"maxima{i}")
    if blocks > 1:
        nodes.append(helper.make_node("Concat", maxima, ["all_maxima"], axis=1))
    nodes.append(
        helper.make_node(
            "TopK",
            ["all_maxima" if blocks > 1 else maxima[0], "k"],
            ["scores", "groups"],
            axis=1,
            largest=1,
            sorted=1,
        )
    )
    outputs = [
        helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["B", "K"]),
        helper.make_tensor_value_info("groups", TensorProto.INT64, ["B", "K"]),
    ]
    return _model(helper.make_graph(nodes, "egate_search_groups", inputs, outputs))
