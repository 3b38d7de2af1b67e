"""The matcher's ONNX graphs, built in code (nothing to ship, nothing to download).

Search ranks gallery templates g for a query q by the score ``q.g - |g|^2/2``: the squared
Euclidean distance is ``|q|^2 - 2*score``, so the largest scores are the nearest templates and
``|q|^2`` never has to enter the graph. On the CPU the scan multiplies the gallery's 8-bit codes
(`codes`), stored as (dim, C) columns so that ``q @ codes`` streams them; on CUDA it multiplies
the float templates, stored as (C, dim) rows (``Gemm`` with ``transB``). The selection runs
inside the graph, so a run returns (B, k) values whatever the block size; the only temporary is
the (B, C) score matrix.
"""

from __future__ import annotations

from collections.abc import Sequence

import onnx
from onnx import TensorProto, helper

from biometrics.matcher.codes import ZERO_POINT

OPSET = 17
# ONNX Runtime's contrib operators (MatMulIntegerToFloat), in every onnxruntime build.
MICROSOFT = "com.microsoft"
# ONNX Runtime 1.18 (the oldest we support) reads IR version 9.
IR_VERSION = 9

VERIFY_INPUTS = ("live", "templates", "threshold")
VERIFY_OUTPUTS = ("distances", "matches")


def _model(graph: onnx.GraphProto) -> onnx.ModelProto:
    opsets = [helper.make_opsetid("", OPSET)]
    if any(node.domain == MICROSOFT for node in graph.node):
        opsets.append(helper.make_opsetid(MICROSOFT, 1))
    model = helper.make_model(graph, opset_imports=opsets, producer_name="egate.matcher")
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


def widening_graph() -> onnx.ModelProto:
    """``halves`` (n,) float16 -> ``widened`` (n,) float32, each value exactly."""
    nodes = [helper.make_node("Cast", ["halves"], ["widened"], to=TensorProto.FLOAT)]
    graph = helper.make_graph(
        nodes,
        "egate_widen",
        [helper.make_tensor_value_info("halves", TensorProto.FLOAT16, ["n"])],
        [helper.make_tensor_value_info("widened", TensorProto.FLOAT, ["n"])],
    )
    return _model(graph)


def search_graph(dim: int, *, float16: bool, blocks: int = 1, group: int = 1) -> onnx.ModelProto:
    """`blocks` gallery blocks against a batch of queries: the best `group`s of templates.

    Inputs: ``queries`` (B, dim) float32; ``k`` (1,) int64, 1 <= k <= the number of groups;
    ``slack`` and ``lowest`` (B, 1) float32 (see `_best_groups_model`); and for each block i
    ``block{i}`` (C_i, dim) float32 or float16 (the block's templates as rows, C_i a multiple of
    `group`) and ``half_sq_norms{i}`` (C_i,) float32, |g|^2/2 of each row (+inf for padding
    rows, which then never win). The blocks' templates are cut into consecutive groups of
    `group`, numbered across the blocks in order. Outputs: ``scores`` (B, k) float32, the best
    groups' largest ``q.g - |g|^2/2``, in descending order, ``groups`` (B, k) int64, their
    numbers (ONNX TopK breaks ties by the lower number), ``members`` (B, k, group) float32,
    the scores of those groups' members, and the selection ``pairs`` and ``selected`` (see
    `_best_groups_model`).

    Ranking groups by their best score instead of templates by score keeps TopK off the (B, C)
    score matrix: one ReduceMax pass over it (vectorised, ~0.15 ns a score) then a TopK over
    C/group maxima, where a TopK over all scores cost as much as a third of the MatMul at B = 64
    (ONNX Runtime's TopK costs ~3 us a row plus ~0.35 ns an element). Every template of the
    true top k lies in a group ranked within the top k by maximum (a group ranked above it
    holds a template ranked above that template), so the caller re-ranks those groups' members.

    A float16 block is cast to float32 inside the graph (ONNX Runtime's CPU provider has no
    float16 Gemm); the nodes of one block run before the next block's, so the (C, dim) cast and
    the (B, C) scores of every block reuse the same buffers.
    """
    block_type = TensorProto.FLOAT16 if float16 else TensorProto.FLOAT
    inputs = [helper.make_tensor_value_info("queries", TensorProto.FLOAT, ["B", dim])]
    nodes = []
    for i in range(blocks):
        matrix = f"block{i}"
        if float16:
            nodes.append(
                helper.make_node("Cast", [matrix], [f"block{i}_f32"], to=TensorProto.FLOAT)
            )
            matrix = f"block{i}_f32"
        nodes += [
            helper.make_node("Gemm", ["queries", matrix], [f"dots{i}"], transB=1),
            helper.make_node("Sub", [f"dots{i}", f"half_sq_norms{i}"], [f"all_scores{i}"]),
        ]
        inputs += [
            helper.make_tensor_value_info(f"block{i}", block_type, [f"C{i}", dim]),
            helper.make_tensor_value_info(f"half_sq_norms{i}", TensorProto.FLOAT, [f"C{i}"]),
        ]
    return _best_groups_model(nodes, inputs, blocks, group, "egate_search_groups")


def code_search_graph(
    dim: int,
    *,
    blocks: int = 1,
    group: int = 1,
    single: bool,
    rows: bool = False,
    query_zero_point: int = ZERO_POINT,
) -> onnx.ModelProto:
    """`search_graph` over 8-bit codes (see `codes`): approximate scores, best groups.

    Inputs: ``queries`` (B, dim) uint8, the query codes plus `query_zero_point` (see
    codes.QueryRange); ``scale`` a float32 scalar, the queries' scale t; ``k``, ``slack`` and
    ``lowest`` as in `search_graph`; and for each block i ``codes{i}`` (dim, C_i) int8,
    ``scales{i}`` (C_i,) float32 (s of each template) and ``neg_half_sq_norms{i}`` (C_i,)
    float32 (-|g|^2/2; -inf for padding). Outputs as `search_graph`, of the approximate scores
    ``t*s*(n.c) - |g|^2/2``, except that a `single` graph returns the templates that may
    belong in the run's top ``member_k`` (see `_one_query_candidates`).

    `single` (B = 1) takes ONNX Runtime's int8 matrix-vector product without a zero point,
    which streams the codes (~9 ns a 128-byte template on one Zen 4 core, against ~30 ns with
    a zero point) and removes the offset in four element-wise steps, with ``zero_sums{i}``
    (ZERO_POINT * sum(c), scaled in the graph to another `query_zero_point`) as a fourth term.
    Its inputs are stacks of blocks of one width: ``codes{i}`` (n_i, dim, C_i) and each term
    (n_i, 1, C_i), so that consecutive full blocks of the gallery's files go in as one view
    and one chain of nodes (ONNX Runtime spent more on a chain a block than on the
    element-wise work). Otherwise one MatMulIntegerToFloat (com.microsoft) applies the zero
    point, both scales and -|g|^2/2 as it writes the scores (~1.3 ns a template a query at
    B = 64); it takes a scale per column, so a block at a time.

    `rows` is the graph of a codes.CodesLayout.ROWS gallery (see `_rows_code_search_graph`),
    whose int8 query codes take no zero point.
    """
    if rows:
        return _rows_code_search_graph(dim, blocks, group, single)
    inputs = [
        helper.make_tensor_value_info("queries", TensorProto.UINT8, ["B", dim]),
        helper.make_tensor_value_info("scale", TensorProto.FLOAT, []),
    ]
    nodes = []
    # The stored zero sums are ZERO_POINT * sum(c); another offset takes a share of them
    # (64 / 128: exact in float32, as |sum(c)| * 128 < 2^24).
    shared = query_zero_point != ZERO_POINT
    if single:
        nodes.append(_constant("row_shape", TensorProto.INT64, [2], [1, -1]))
        if shared:
            share = [query_zero_point / ZERO_POINT]
            nodes.append(_constant("zero_share", TensorProto.FLOAT, [], share))
    else:
        nodes.append(_constant("zero_point", TensorProto.UINT8, [], [query_zero_point]))
    for i in range(blocks):
        if single:
            term: list[str | int] = [f"n{i}", 1, f"C{i}"]
            inputs += [
                helper.make_tensor_value_info(
                    f"codes{i}", TensorProto.INT8, [f"n{i}", dim, f"C{i}"]
                ),
                *(
                    helper.make_tensor_value_info(f"{name}{i}", TensorProto.FLOAT, term)
                    for name in ("scales", "neg_half_sq_norms", "zero_sums")
                ),
            ]
            zero_sums = f"zero_sums{i}"
            if shared:
                nodes.append(helper.make_node("Mul", [zero_sums, "zero_share"], [f"offsets{i}"]))
                zero_sums = f"offsets{i}"
            nodes += [
                helper.make_node("MatMulInteger", ["queries", f"codes{i}"], [f"raw{i}"]),
                helper.make_node("Cast", [f"raw{i}"], [f"raw{i}_f32"], to=TensorProto.FLOAT),
                helper.make_node("Sub", [f"raw{i}_f32", zero_sums], [f"dots{i}"]),
                helper.make_node("Mul", [f"dots{i}", f"scales{i}"], [f"scaled{i}"]),
                helper.make_node("Mul", [f"scaled{i}", "scale"], [f"products{i}"]),
                helper.make_node(
                    "Add", [f"products{i}", f"neg_half_sq_norms{i}"], [f"stacked_scores{i}"]
                ),
                helper.make_node(
                    "Reshape", [f"stacked_scores{i}", "row_shape"], [f"all_scores{i}"]
                ),
            ]
            continue
        inputs += [
            helper.make_tensor_value_info(f"codes{i}", TensorProto.INT8, [dim, f"C{i}"]),
            helper.make_tensor_value_info(f"scales{i}", TensorProto.FLOAT, [f"C{i}"]),
            helper.make_tensor_value_info(f"neg_half_sq_norms{i}", TensorProto.FLOAT, [f"C{i}"]),
        ]
        nodes.append(
            helper.make_node(
                "MatMulIntegerToFloat",
                [
                    "queries",
                    f"codes{i}",
                    "scale",
                    f"scales{i}",
                    "zero_point",
                    "",
                    f"neg_half_sq_norms{i}",
                ],
                [f"all_scores{i}"],
                domain=MICROSOFT,
            )
        )
    return _best_groups_model(
        nodes, inputs, blocks, group, "egate_code_search_groups", joined=single
    )


def int8_product_probe_graph(dim: int) -> onnx.ModelProto:
    """The int8 products of the code scan, as its graphs take them, to check them on the host
    (see codes.QueryRange): ONNX Runtime's kernels may take another path with a zero point.

    Inputs: ``one`` (1, dim) and ``many`` (B, dim) uint8 queries with ``codes`` (dim, C) int8
    (COLUMNS) and ``zero_point``, the uint8 offset of the queries' codes; ``rows`` (C, dim)
    uint8 codes (c + ZERO_POINT) with ``column`` (dim, 1) and ``columns`` (dim, B) int8 queries
    (ROWS). Outputs ``single``, one @ codes by MatMulInteger (int32; the one-query COLUMNS
    graph), ``batch``, (many - zero_point) @ codes by MatMulIntegerToFloat with unit scales
    (exact in float32 below 2^24; the batch COLUMNS graph), and ``rows_single`` and
    ``rows_batch``, (rows - ZERO_POINT) @ column and @ columns by MatMulInteger (int32; the
    ROWS graphs).
    """

    def value(name: str, kind: int, shape: list[str | int]) -> onnx.ValueInfoProto:
        return helper.make_tensor_value_info(name, kind, shape)

    inputs = [
        value("one", TensorProto.UINT8, [1, dim]),
        value("many", TensorProto.UINT8, ["B", dim]),
        value("codes", TensorProto.INT8, [dim, "C"]),
        value("zero_point", TensorProto.UINT8, []),
        value("rows", TensorProto.UINT8, ["C", dim]),
        value("column", TensorProto.INT8, [dim, 1]),
        value("columns", TensorProto.INT8, [dim, "B"]),
    ]
    nodes = [
        _constant("unit", TensorProto.FLOAT, [], [1.0]),
        _constant("codes_zero_point", TensorProto.UINT8, [], [ZERO_POINT]),
        helper.make_node("MatMulInteger", ["one", "codes"], ["single"]),
        helper.make_node(
            "MatMulIntegerToFloat",
            ["many", "codes", "unit", "unit", "zero_point"],
            ["batch"],
            domain=MICROSOFT,
        ),
        helper.make_node("MatMulInteger", ["rows", "column", "codes_zero_point"], ["rows_single"]),
        helper.make_node("MatMulInteger", ["rows", "columns", "codes_zero_point"], ["rows_batch"]),
    ]
    outputs = [
        value("single", TensorProto.INT32, [1, "C"]),
        value("batch", TensorProto.FLOAT, ["B", "C"]),
        value("rows_single", TensorProto.INT32, ["C", 1]),
        value("rows_batch", TensorProto.INT32, ["C", "B"]),
    ]
    return _model(helper.make_graph(nodes, "egate_int8_probe", inputs, outputs))


def _rows_code_search_graph(dim: int, blocks: int, group: int, single: bool) -> onnx.ModelProto:
    """`code_search_graph` of a ROWS gallery: the codes are the left operand, ``codes @ n``.

    Inputs: ``queries`` (dim, B) int8, the query codes n as columns; ``scale``, ``k``,
    ``slack`` and ``lowest`` as in `code_search_graph`; for each block i ``codes{i}``, uint8
    c + ZERO_POINT, with ``scales{i}`` and ``neg_half_sq_norms{i}``. `single` (B = 1) takes
    stacks of blocks as `code_search_graph` does: codes (n_i, C_i, dim), terms (n_i, C_i).
    Otherwise a block at a time: codes (C_i, dim), terms (C_i, 1).

    The product's zero point removes the offset (ONNX Runtime corrects by the column sums of
    the small query operand). Its (C, B) scores are left as they come, template-major: the
    selection takes its group maxima across that layout and gathers members by flat index
    (see `_best_groups_model`), where transposing the scores would cost another pass.
    """
    inputs = [
        helper.make_tensor_value_info("queries", TensorProto.INT8, [dim, "B"]),
        helper.make_tensor_value_info("scale", TensorProto.FLOAT, []),
    ]
    nodes = [_constant("zero_point", TensorProto.UINT8, [], [ZERO_POINT])]
    if single:
        nodes += [
            _constant("row_shape", TensorProto.INT64, [2], [1, -1]),
            _constant("stack_shape", TensorProto.INT64, [2], [0, -1]),
        ]
    for i in range(blocks):
        if single:
            codes_shape: list[str | int] = [f"n{i}", f"C{i}", dim]
            term_shape: list[str | int] = [f"n{i}", f"C{i}"]
        else:
            codes_shape, term_shape = [f"C{i}", dim], [f"C{i}", 1]
        inputs += [
            helper.make_tensor_value_info(f"codes{i}", TensorProto.UINT8, codes_shape),
            *(
                helper.make_tensor_value_info(f"{name}{i}", TensorProto.FLOAT, term_shape)
                for name in ("scales", "neg_half_sq_norms")
            ),
        ]
        dots, scores = f"raw{i}", f"all_scores{i}"
        nodes += [
            helper.make_node("MatMulInteger", [f"codes{i}", "queries", "zero_point"], [dots]),
            helper.make_node("Mul", [f"scales{i}", "scale"], [f"factors{i}"]),
        ]
        if single:
            # (n, C, 1) to (n, C): element-wise steps over a trailing axis of 1 ran ~3x slower;
            # the (n, C) scores then join into one (1, n * C) row.
            nodes.append(helper.make_node("Reshape", [dots, "stack_shape"], [f"dots{i}"]))
            dots, scores = f"dots{i}", f"stacked_scores{i}"
        nodes += [
            helper.make_node("Cast", [dots], [f"dots{i}_f32"], to=TensorProto.FLOAT),
            helper.make_node("Mul", [f"dots{i}_f32", f"factors{i}"], [f"products{i}"]),
            helper.make_node("Add", [f"products{i}", f"neg_half_sq_norms{i}"], [scores]),
        ]
        if single:
            nodes.append(helper.make_node("Reshape", [scores, "row_shape"], [f"all_scores{i}"]))
    return _best_groups_model(
        nodes,
        inputs,
        blocks,
        group,
        "egate_rows_code_search_groups",
        joined=single,
        transposed=not single,
    )


def _constant(name: str, kind: int, dims: list[int], values: Sequence[float]) -> onnx.NodeProto:
    return helper.make_node(
        "Constant", [], [name], value=helper.make_tensor(f"{name}_v", kind, dims, values)
    )


def _best_groups_model(
    nodes: list[onnx.NodeProto],
    inputs: list[onnx.ValueInfoProto],
    blocks: int,
    group: int,
    name: str,
    *,
    joined: bool = False,
    transposed: bool = False,
) -> onnx.ModelProto:
    """Append to a graph that leaves ``all_scores{i}`` (B, C_i) per block the selection, or,
    when `joined` (B = 1), the blocks' scores joined into one row and the templates of
    `_one_query_candidates` (input ``member_k`` as well, output ``candidates`` alone).

    Per block, the maxima of consecutive groups of `group` templates; over all blocks, the
    ``k`` best groups: outputs ``scores`` (B, k) (their maxima, descending), ``groups`` (B, k)
    (their numbers, ties to the lower) and ``members`` (B, k, group) (their members' scores).
    Then every group whose maximum reaches t = max(k-th best maximum - ``slack``, ``lowest``)
    (inputs (B, 1) float32): ``pairs`` (2, M) int64, the (query, group number) of each (block
    by block, in query order within a block), and ``selected`` (M, group), its members' scores.

    With ``slack`` twice the bound on the error of the run's scores, the selection is
    complete: the k best groups hold k templates whose true scores are at least k-th best
    maximum - bound, so T (the k-th best true score) is at least that, and a group below t
    holds no template whose upper bound reaches it. ``lowest`` (a hit's least score less the
    bound, or -inf) prunes further in watchlist mode.

    The members are gathered per block from its (B * C_i / group, group) view: a returned
    group number minus the block's first group number is a row of that view when it falls in
    the block, and ``Where`` keeps the block's row for the groups that do.

    `transposed`: the blocks' scores are (C_i, B), template-major, and the queries input is
    (dim, B). The maxima are taken over (C_i / group, group, B) and transposed (a sixteenth
    of the scores), and members are gathered from the flat scores by index.
    """
    inputs = [
        *inputs,
        helper.make_tensor_value_info("k", TensorProto.INT64, [1]),
        helper.make_tensor_value_info("slack", TensorProto.FLOAT, ["B", 1]),
        helper.make_tensor_value_info("lowest", TensorProto.FLOAT, ["B", 1]),
    ]
    if not transposed:
        nodes = [_constant("grouped_shape", TensorProto.INT64, [3], [0, -1, group]), *nodes]
    scores = [f"all_scores{i}" for i in range(blocks)]
    if joined and blocks > 1:
        # One query row: joining the blocks' scores costs less than a chain of nodes a block.
        nodes.append(helper.make_node("Concat", scores, ["joined_scores"], axis=1))
        scores = ["joined_scores"]
    maxima = [f"maxima{i}" for i in range(len(scores))]
    if transposed:
        nodes += [
            _constant("group_shape", TensorProto.INT64, [2], [-1, group]),
            _constant("flat_shape", TensorProto.INT64, [1], [-1]),
            helper.make_node("Shape", ["queries"], ["batch_1"], start=1, end=2),
            helper.make_node("Concat", ["group_shape", "batch_1"], ["columns_shape"], axis=0),
        ]
    for i, block_scores in enumerate(scores):
        if transposed:
            nodes += [
                helper.make_node("Reshape", [block_scores, "columns_shape"], [f"columns{i}"]),
                helper.make_node(
                    "ReduceMax", [f"columns{i}"], [f"maxima{i}_t"], axes=[1], keepdims=0
                ),
                helper.make_node("Transpose", [f"maxima{i}_t"], [maxima[i]], perm=[1, 0]),
                helper.make_node("Reshape", [block_scores, "flat_shape"], [f"flat_scores{i}"]),
            ]
            continue
        nodes.append(helper.make_node("Reshape", [block_scores, "grouped_shape"], [f"grouped{i}"]))
        if group == 1:
            nodes.append(helper.make_node("Identity", [block_scores], [maxima[i]]))
        else:
            nodes.append(
                helper.make_node("ReduceMax", [f"grouped{i}"], [maxima[i]], axes=[2], keepdims=0)
            )
    if len(maxima) > 1:
        nodes.append(helper.make_node("Concat", maxima, ["all_maxima"], axis=1))
    nodes.append(
        helper.make_node(
            "TopK",
            ["all_maxima" if len(maxima) > 1 else maxima[0], "k"],
            ["scores", "groups"],
            axis=1,
            largest=1,
            sorted=1,
        )
    )
    if joined:
        inputs.append(helper.make_tensor_value_info("member_k", TensorProto.INT64, [1]))
        nodes += _one_query_candidates(maxima[0], group)
        outputs = [helper.make_tensor_value_info("candidates", TensorProto.INT64, ["P"])]
        return _model(helper.make_graph(nodes, name, inputs, outputs))
    nodes += _gather_members(maxima, group, transposed)
    nodes += _select_groups(maxima, group, transposed)
    outputs = [
        helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["B", "K"]),
        helper.make_tensor_value_info("groups", TensorProto.INT64, ["B", "K"]),
        helper.make_tensor_value_info("members", TensorProto.FLOAT, ["B", "K", group]),
        helper.make_tensor_value_info("pairs", TensorProto.INT64, [2, "M"]),
        helper.make_tensor_value_info("selected", TensorProto.FLOAT, ["M", group]),
    ]
    return _model(helper.make_graph(nodes, name, inputs, outputs))


def _cut(count: str = "k", ranked: str = "scores") -> list[onnx.NodeProto]:
    """Nodes that leave ``cut`` (B, 1): max(the `count`-th of `ranked` (B, n), descending
    (by default the k-th best maximum) - ``slack``, ``lowest``)."""
    return [
        helper.make_node("Sub", [count, "one"], ["last"]),
        helper.make_node("Gather", [ranked, "last"], ["kth"], axis=1),
        helper.make_node("Sub", ["kth", "slack"], ["kth_less_slack"]),
        helper.make_node("Max", ["kth_less_slack", "lowest"], ["cut"]),
    ]


def _one_query_candidates(maxima: str, group: int) -> list[onnx.NodeProto]:
    """The one-query graph's selection, of one query's joined row ``grouped0`` (1, G, group)
    with maxima `maxima` (1, G): not groups but templates. ``candidates`` (P,) int64, the
    places in the row (ascending) of every template whose approximate score reaches
    max(the ``member_k``-th best score among the members of the ``k`` best groups -
    ``slack``, ``lowest``).

    With ``slack`` twice the run's error bound that keeps every template of the run's exact
    top ``member_k``: those members hold ``member_k`` templates whose true scores are at least
    their k-th best approximate score less one bound, so the run's k-th best true score is at
    least that, and a template scoring below it by more than another bound cannot reach it.
    A group reaches the cut when its maximum does, so only the reaching groups' members are
    compared. A group number is a row of the (G, group) view; a template's place is its group
    number * group + its place in the group."""
    return [
        _constant("zero", TensorProto.INT64, [], [0]),
        _constant("one", TensorProto.INT64, [], [1]),
        _constant("group_size", TensorProto.INT64, [], [group]),
        _constant("rows_shape", TensorProto.INT64, [2], [-1, group]),
        _constant("member_row_shape", TensorProto.INT64, [2], [1, -1]),
        helper.make_node("Reshape", ["grouped0", "rows_shape"], ["group_rows"]),
        helper.make_node("Gather", ["group_rows", "groups"], ["members"], axis=0),
        helper.make_node("Reshape", ["members", "member_row_shape"], ["member_row"]),
        helper.make_node(
            "TopK",
            ["member_row", "member_k"],
            ["best_members", "best_member_places"],
            axis=1,
            largest=1,
            sorted=1,
        ),
        *_cut("member_k", "best_members"),
        helper.make_node("GreaterOrEqual", [maxima, "cut"], ["reaches"]),
        helper.make_node("NonZero", ["reaches"], ["pairs"]),
        helper.make_node("Gather", ["pairs", "one"], ["numbers"], axis=0),
        helper.make_node("Gather", ["group_rows", "numbers"], ["selected"], axis=0),
        helper.make_node("GreaterOrEqual", ["selected", "cut"], ["within"]),
        helper.make_node("NonZero", ["within"], ["places"]),
        helper.make_node("Gather", ["places", "zero"], ["which"], axis=0),
        helper.make_node("Gather", ["places", "one"], ["offsets"], axis=0),
        helper.make_node("Gather", ["numbers", "which"], ["chosen"], axis=0),
        helper.make_node("Mul", ["chosen", "group_size"], ["chosen_first"]),
        helper.make_node("Add", ["chosen_first", "offsets"], ["candidates"]),
    ]


def _select_groups(maxima: list[str], group: int, transposed: bool) -> list[onnx.NodeProto]:
    """Nodes that leave ``pairs`` (2, M) and ``selected`` (M, group): the groups of the
    blocks' ``grouped{i}`` whose maxima (``maxima[i]``) reach t (see `_best_groups_model`).
    Uses ``zero``, ``one``, ``count{i}`` and, `transposed`, ``stride`` and ``steps`` from
    `_gather_members`."""
    nodes = _cut()
    if len(maxima) > 1:
        nodes += [
            _constant("column_shape", TensorProto.INT64, [2], [2, 1]),
            _constant("zero_1", TensorProto.INT64, [1], [0]),
            _constant("axis_0", TensorProto.INT64, [1], [0]),
        ]
    pairs, selected = [], []
    for i, block_maxima in enumerate(maxima):
        nodes += [
            helper.make_node("GreaterOrEqual", [block_maxima, "cut"], [f"reaches{i}"]),
            helper.make_node("NonZero", [f"reaches{i}"], [f"local_pairs{i}"]),
        ]
        if transposed:
            # Member j of (query b, group g) is flat score (g * group + j) * B + b.
            nodes += [
                helper.make_node("Gather", [f"local_pairs{i}", "zero"], [f"pair_q{i}"], axis=0),
                helper.make_node("Gather", [f"local_pairs{i}", "one"], [f"pair_g{i}"], axis=0),
                *_flat_members(i, f"pair_g{i}", f"pair_q{i}", "axis_1", f"selected{i}"),
            ]
        else:
            nodes += [
                helper.make_node("Transpose", [f"local_pairs{i}"], [f"index{i}"], perm=[1, 0]),
                helper.make_node("GatherND", [f"grouped{i}", f"index{i}"], [f"selected{i}"]),
            ]
        if i == 0:
            pairs.append("local_pairs0")
        else:
            # The block's group numbers follow the earlier blocks'.
            nodes += [
                helper.make_node("Concat", ["zero_1", f"offset{i}_1"], [f"shift{i}_2"], axis=0),
                helper.make_node("Reshape", [f"shift{i}_2", "column_shape"], [f"shift{i}"]),
                helper.make_node("Add", [f"local_pairs{i}", f"shift{i}"], [f"pairs{i}"]),
            ]
            pairs.append(f"pairs{i}")
        selected.append(f"selected{i}")
        if i + 1 < len(maxima):
            offset = f"offset{i + 1}"
            nodes.append(helper.make_node("Unsqueeze", [offset, "axis_0"], [f"{offset}_1"]))
    if len(maxima) > 1:
        nodes += [
            helper.make_node("Concat", pairs, ["pairs"], axis=1),
            helper.make_node("Concat", selected, ["selected"], axis=0),
        ]
    else:
        nodes += [
            helper.make_node("Identity", [pairs[0]], ["pairs"]),
            helper.make_node("Identity", [selected[0]], ["selected"]),
        ]
    return nodes


def _flat_members(
    block: int, groups: str, queries: str, axis: str, output: str
) -> list[onnx.NodeProto]:
    """Nodes that gather, from block `block`'s flat (C, B) scores, the members of the groups
    numbered `groups` for queries `queries` (same shape): ``output`` has one more axis, at
    `axis`, of the group's members (``stride`` and ``steps`` from `_gather_members`)."""
    name = f"{output}_{block}"
    return [
        helper.make_node("Mul", [groups, "stride"], [f"{name}_base"]),
        helper.make_node("Add", [f"{name}_base", queries], [f"{name}_first"]),
        helper.make_node("Unsqueeze", [f"{name}_first", axis], [f"{name}_column"]),
        helper.make_node("Add", [f"{name}_column", "steps"], [f"{name}_index"]),
        helper.make_node("Gather", [f"flat_scores{block}", f"{name}_index"], [output], axis=0),
    ]


def _gather_members(maxima: list[str], group: int, transposed: bool) -> list[onnx.NodeProto]:
    """Nodes that leave ``members`` (B, k, group): for each returned group number in
    ``groups`` (B, k), the scores of its members, from the blocks' ``grouped{i}``
    (B, C_i / group, group) whose maxima are ``maxima[i]`` (B, C_i / group), or, when
    `transposed`, from the flat (C_i, B) scores ``flat_scores{i}``."""
    nodes = [
        _constant("zero", TensorProto.INT64, [], [0]),
        _constant("one", TensorProto.INT64, [], [1]),
        _constant("axis_1", TensorProto.INT64, [1], [1]),
        helper.make_node("Shape", [maxima[0]], ["queries_1"], start=0, end=1),
        helper.make_node("Squeeze", ["queries_1"], ["queries_n"]),
        helper.make_node("Range", ["zero", "queries_n", "one"], ["query_numbers"]),
        helper.make_node("Unsqueeze", ["query_numbers", "axis_1"], ["query_column"]),
    ]
    if not transposed:
        nodes.append(_constant("rows_shape", TensorProto.INT64, [2], [-1, group]))
    else:
        # Flat (C_i, B) scores: group g starts at g * stride, its members `steps` apart.
        nodes += [
            _constant("group_size", TensorProto.INT64, [], [group]),
            helper.make_node("Mul", ["group_size", "queries_n"], ["stride"]),
            helper.make_node("Range", ["zero", "group_size", "one"], ["member_numbers"]),
            helper.make_node("Mul", ["member_numbers", "queries_n"], ["steps"]),
        ]
    if len(maxima) > 1 or transposed:
        nodes.append(_constant("axis_2", TensorProto.INT64, [1], [2]))
    offset = "zero"
    for i, block_maxima in enumerate(maxima):
        local, inside = f"local{i}", f"inside{i}"
        nodes += [
            # Groups in this block, and the returned numbers relative to its first.
            helper.make_node("Shape", [block_maxima], [f"count{i}_1"], start=1, end=2),
            helper.make_node("Squeeze", [f"count{i}_1"], [f"count{i}"]),
            helper.make_node("Sub", ["groups", offset], [local]),
            helper.make_node("GreaterOrEqual", [local, "zero"], [f"from{i}"]),
            helper.make_node("Less", [local, f"count{i}"], [f"below{i}"]),
            helper.make_node("And", [f"from{i}", f"below{i}"], [inside]),
            helper.make_node("Where", [inside, local, "zero"], [f"clipped{i}"]),
        ]
        if transposed:
            nodes += _flat_members(i, f"clipped{i}", "query_column", "axis_2", f"gathered{i}")
        else:
            nodes += [
                # Row of the (B * count, group) view: query * count + local group.
                helper.make_node("Mul", ["query_column", f"count{i}"], [f"row_base{i}"]),
                helper.make_node("Add", [f"row_base{i}", f"clipped{i}"], [f"rows{i}"]),
                helper.make_node("Reshape", [f"grouped{i}", "rows_shape"], [f"flat{i}"]),
                helper.make_node("Gather", [f"flat{i}", f"rows{i}"], [f"gathered{i}"], axis=0),
            ]
        if i == 0:
            nodes.append(helper.make_node("Identity", ["gathered0"], ["members_0"]))
        else:
            nodes += [
                helper.make_node("Unsqueeze", [inside, "axis_2"], [f"inside{i}_3"]),
                helper.make_node(
                    "Where",
                    [f"inside{i}_3", f"gathered{i}", f"members_{i - 1}"],
                    [f"members_{i}"],
                ),
            ]
        if i + 1 < len(maxima):
            nodes.append(helper.make_node("Add", [offset, f"count{i}"], [f"offset{i + 1}"]))
            offset = f"offset{i + 1}"
    nodes.append(helper.make_node("Identity", [f"members_{len(maxima) - 1}"], ["members"]))
    return nodes
