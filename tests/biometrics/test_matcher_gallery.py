"""Gallery: storage round trips, add/remove/replace bookkeeping against a dict model, reopening,
and typed errors carrying the offending value."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from biometrics.matcher import (
    DimensionMismatch,
    DuplicateId,
    Gallery,
    GalleryDtype,
    GalleryFileError,
    InvalidArgument,
    InvalidId,
    NonFiniteValue,
    Searcher,
    UnknownId,
    ValueOutOfRange,
)
from biometrics.matcher.codes import CodesLayout, encode_templates
from biometrics.matcher.gallery import Block
from biometrics.matcher.vectors import MAX_ABS_VALUE

pytestmark = pytest.mark.usefixtures("each_codes_layout")

DIM = 128


def _vectors(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 0.1, (n, DIM)).astype(np.float32)


def test_added_templates_read_back_in_slot_order_across_blocks(
    tmp_path: Path, each_codes_layout: CodesLayout
) -> None:
    values = _vectors(11)
    with Gallery.create(tmp_path / "g", block=4) as gallery:
        gallery.add([f"t{i}" for i in range(5)], values[:5])
        gallery.add([f"t{i}" for i in range(5, 11)], values[5:])
        assert len(gallery) == 11
        assert gallery.ids == [f"t{i}" for i in range(11)]
        np.testing.assert_array_equal(gallery.get(["t10", "t0", "t4"]), values[[10, 0, 4]])
        assert "t7" in gallery
        assert "t11" not in gallery
        assert [b.first_slot for b in gallery.blocks()] == [0, 4, 8]
        assert [b.rows.shape for b in gallery.blocks()] == [(4, DIM), (4, DIM), (3, DIM)]
        assert gallery.codes_layout is each_codes_layout
        rows = gallery.codes_layout is CodesLayout.ROWS
        shapes = [(m, DIM) if rows else (DIM, m) for m in (4, 4, 3)]
        assert [b.codes.shape for b in gallery.blocks()] == shapes


def test_half_squared_norms_are_stored_beside_each_block(tmp_path: Path) -> None:
    values = _vectors(6)
    with Gallery.create(tmp_path / "g", block=4) as gallery:
        gallery.add([str(i) for i in range(6)], values)
        norms = np.concatenate([b.half_sq_norms for b in gallery.blocks()])
    expected = 0.5 * (values.astype(np.float64) ** 2).sum(axis=1)
    np.testing.assert_allclose(norms, expected, rtol=1e-6)


@pytest.mark.parametrize("dtype", list(GalleryDtype))
def test_templates_at_reads_any_slots_with_their_norms(tmp_path: Path, dtype: GalleryDtype) -> None:
    values = _vectors(11)
    with Gallery.create(tmp_path / "g", block=8, dtype=dtype) as gallery:
        gallery.add([f"t{i}" for i in range(11)], values)
        slots = np.array([10, 0, 7, 8, 0])
        rows, norms = gallery.templates_at(slots)
        # The stored values, in the gallery's own dtype.
        assert rows.dtype == dtype.numpy
        np.testing.assert_array_equal(rows, values.astype(dtype.numpy)[slots])
        np.testing.assert_array_equal(gallery.vectors_at(slots), rows.astype(np.float32))
        assert norms.shape == (5,)
        stored = np.concatenate([b.half_sq_norms for b in gallery.blocks()])
        np.testing.assert_array_equal(norms, stored[slots])


def test_float16_gallery_stores_rounded_values(tmp_path: Path) -> None:
    values = _vectors(3)
    with Gallery.create(tmp_path / "g", dtype=GalleryDtype.FLOAT16) as gallery:
        gallery.add(["a", "b", "c"], values)
        stored = gallery.get(["a", "b", "c"])
        assert gallery.blocks()[0].rows.dtype == np.float16
    np.testing.assert_array_equal(stored, values.astype(np.float16).astype(np.float32))
    assert (tmp_path / "g" / "templates.bin").stat().st_size == DIM * 16384 * 2


def test_remove_moves_the_last_template_into_the_freed_slot(tmp_path: Path) -> None:
    values = _vectors(5)
    with Gallery.create(tmp_path / "g", block=2) as gallery:
        gallery.add(list("abcde"), values)
        gallery.remove(["b"])
        assert gallery.ids == ["a", "e", "c", "d"]
        gallery.remove(["d", "a"])
        assert gallery.ids == ["c", "e"]
        np.testing.assert_array_equal(gallery.get(["c", "e"]), values[[2, 4]])
        gallery.remove(["c", "e"])
        assert len(gallery) == 0
        assert gallery.blocks() == []


def test_replace_overwrites_in_place(tmp_path: Path) -> None:
    values = _vectors(4)
    with Gallery.create(tmp_path / "g", block=3) as gallery:
        gallery.add(list("abcd"), values)
        before = gallery.version
        gallery.replace(["d", "a"], values[[0, 3]])
        assert gallery.ids == list("abcd")
        np.testing.assert_array_equal(gallery.get(list("abcd")), values[[3, 1, 2, 0]])
        assert gallery.version > before


def test_saved_gallery_reopens_identical(tmp_path: Path) -> None:
    values = _vectors(40)
    path = tmp_path / "g"
    with Gallery.create(path, dtype=GalleryDtype.FLOAT16, block=8, id_bytes=12) as gallery:
        gallery.add([f"id-{i}" for i in range(40)], values)
        gallery.remove(["id-3", "id-17", "id-39"])
        gallery.replace(["id-5"], values[:1] * 2)
        ids, stored = gallery.ids, gallery.get(gallery.ids)
        blocks = [
            (b.rows.copy(), b.half_sq_norms.copy(), b.codes.copy(), b.terms.copy())
            for b in gallery.blocks()
        ]
    with Gallery.open(path) as reopened:
        assert (reopened.dim, reopened.dtype, reopened.block_size, reopened.id_bytes) == (
            DIM,
            GalleryDtype.FLOAT16,
            8,
            12,
        )
        assert reopened.ids == ids
        np.testing.assert_array_equal(reopened.get(ids), stored)
        for (rows, norms, codes, terms), block in zip(blocks, reopened.blocks(), strict=True):
            np.testing.assert_array_equal(block.rows, rows)
            np.testing.assert_array_equal(block.half_sq_norms, norms)
            np.testing.assert_array_equal(block.codes, codes)
            np.testing.assert_array_equal(block.terms, terms)
        reopened.add(["late"], values[:1])
        assert reopened.ids[-1] == "late"


def test_non_ascii_ids_round_trip(tmp_path: Path) -> None:
    with Gallery.create(tmp_path / "g", id_bytes=8) as gallery:
        gallery.add(["Zoë", "東京"], _vectors(2))
        assert gallery.ids == ["Zoë", "東京"]
    assert Gallery.open(tmp_path / "g").ids == ["Zoë", "東京"]


# ---- errors -------------------------------------------------------------------------------


def test_duplicate_ids_are_refused_and_nothing_is_written(tmp_path: Path) -> None:
    with Gallery.create(tmp_path / "g") as gallery:
        gallery.add(["a"], _vectors(1))
        with pytest.raises(DuplicateId, match="'a'") as caught:
            gallery.add(["b", "a"], _vectors(2))
        assert caught.value.template_id == "a"
        assert caught.value.code == "duplicate_id"
        with pytest.raises(DuplicateId, match="'c'"):
            gallery.add(["c", "c"], _vectors(2))
        assert gallery.ids == ["a"]


def test_unknown_ids_are_refused_before_any_change(tmp_path: Path) -> None:
    with Gallery.create(tmp_path / "g") as gallery:
        gallery.add(["a", "b"], _vectors(2))
        with pytest.raises(UnknownId, match="'zz'") as caught:
            gallery.remove(["a", "zz"])
        assert caught.value.template_id == "zz"
        with pytest.raises(UnknownId, match="'zz'"):
            gallery.replace(["b", "zz"], _vectors(2, seed=5))
        with pytest.raises(UnknownId, match="'zz'"):
            gallery.get(["zz"])
        with pytest.raises(DuplicateId, match="'a'"):
            gallery.remove(["a", "a"])
        assert gallery.ids == ["a", "b"]
        np.testing.assert_array_equal(gallery.get(["a", "b"]), _vectors(2))


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("", "empty"),
        ("x" * 9, "longer than the gallery's 8 UTF-8 bytes"),
        ("a\x00b", "NUL"),
        ("ééééé", "longer than"),
        (7, "not a str"),
    ],
)
def test_invalid_ids_name_the_id(tmp_path: Path, bad: object, reason: str) -> None:
    with Gallery.create(tmp_path / "g", id_bytes=8) as gallery:
        with pytest.raises(InvalidId, match=reason) as caught:
            gallery.add([bad], _vectors(1))  # type: ignore[list-item]
        assert caught.value.template_id == bad
        assert len(gallery) == 0


def test_wrong_dimension_and_count_are_typed(tmp_path: Path) -> None:
    with Gallery.create(tmp_path / "g") as gallery:
        with pytest.raises(
            DimensionMismatch, match=r"vectors: expected shape \(n, 128\), got \(2, 127\)"
        ):
            gallery.add(["a", "b"], np.zeros((2, 127), np.float32))
        with pytest.raises(DimensionMismatch, match=r"got \(128,\)"):
            gallery.add(["a"], np.zeros(128, np.float32))
        with pytest.raises(InvalidArgument, match="2 vectors need as many ids") as caught:
            gallery.add(["a"], np.zeros((2, DIM), np.float32))
        assert caught.value.value == 1


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_templates_name_row_and_value(tmp_path: Path, bad: float) -> None:
    values = _vectors(3).astype(np.float64)
    values[2, 17] = bad
    with Gallery.create(tmp_path / "g") as gallery:
        with pytest.raises(
            NonFiniteValue, match="vectors: row 2 holds a non-finite value"
        ) as caught:
            gallery.add(["a", "b", "c"], values)
        assert caught.value.row == 2
        assert caught.value.code == "non_finite_value"
        assert len(gallery) == 0


@pytest.mark.parametrize("bad", [1e39, -1e20, 70000.0, 10001.0])
def test_templates_beyond_the_descriptor_range_are_refused(tmp_path: Path, bad: float) -> None:
    # 1e20 squares past float32 in |g|^2; 70000 rounds to inf in float16. Before this check
    # such a template was stored and never won a search.
    values = _vectors(3).astype(np.float64)
    values[1, 3] = bad
    for dtype in GalleryDtype:
        with Gallery.create(tmp_path / dtype.value, dtype=dtype) as gallery:
            with pytest.raises(ValueOutOfRange, match="vectors: row 1 holds") as caught:
                gallery.add(["a", "b", "c"], values)
            assert (caught.value.row, caught.value.value) == (1, bad)
            assert caught.value.code == "value_out_of_range"
            assert len(gallery) == 0
            values[1, 3] = MAX_ABS_VALUE  # the limit itself is accepted and stored finite
            gallery.add(["a", "b", "c"], values)
            assert np.isfinite(gallery.blocks()[0].half_sq_norms).all()
            values[1, 3] = bad


def test_create_refuses_an_existing_gallery_and_open_a_non_gallery(tmp_path: Path) -> None:
    Gallery.create(tmp_path / "g").close()
    with pytest.raises(GalleryFileError, match="already exists") as caught:
        Gallery.create(tmp_path / "g")
    assert caught.value.path == tmp_path / "g"
    with pytest.raises(GalleryFileError, match=r"no gallery\.json"):
        Gallery.open(tmp_path)
    with pytest.raises(InvalidArgument, match="block=0"):
        Gallery.create(tmp_path / "h", block=0)


def test_truncated_files_are_detected_on_open(tmp_path: Path) -> None:
    path = tmp_path / "g"
    with Gallery.create(path, block=4) as gallery:
        gallery.add(list("abcde"), _vectors(5))
    with (path / "templates.bin").open("r+b") as f:
        f.truncate(100)
    with pytest.raises(GalleryFileError, match=r"templates\.bin holds 100 bytes"):
        Gallery.open(path)
    (path / "gallery.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(GalleryFileError, match="not an egate-gallery header"):
        Gallery.open(path)


# ---- bookkeeping against a model ------------------------------------------------------------


def _code_rows(blocks: list[Block]) -> np.ndarray:
    """(n, dim) int8 codes of the blocks' templates, whichever layout the gallery stores:
    COLUMNS blocks hold (dim, m) int8, ROWS blocks (m, dim) uint8 c + 128."""
    return np.concatenate(
        [
            (b.codes ^ np.uint8(128)).view(np.int8) if b.codes.dtype == np.uint8 else b.codes.T
            for b in blocks
        ]
    )


def _assert_codes_follow_the_templates(gallery: Gallery) -> None:
    """The codes and terms of every block are those of its stored values."""
    blocks = gallery.blocks()
    codes, terms = encode_templates(np.concatenate([b.rows for b in blocks]))
    np.testing.assert_array_equal(_code_rows(blocks), codes)
    np.testing.assert_array_equal(np.concatenate([b.terms for b in blocks], axis=1), terms)


class GalleryModel(RuleBasedStateMachine):
    """Random add/remove/replace/reopen sequences; the gallery must always hold exactly the
    model's id -> vector mapping, each id once."""

    @initialize(dtype=st.sampled_from(GalleryDtype), block=st.integers(1, 5))
    def start(self, dtype: GalleryDtype, block: int) -> None:
        import tempfile

        self.tmp = tempfile.TemporaryDirectory()
        self.path = Path(self.tmp.name) / "g"
        self.gallery = Gallery.create(self.path, dim=4, dtype=dtype, block=block, id_bytes=4)
        self.model: dict[str, np.ndarray] = {}
        self.counter = 0
        self.rng = np.random.default_rng(0)

    def _fresh(self, n: int) -> np.ndarray:
        values = self.rng.integers(-50, 50, (n, 4)).astype(np.float32) / 8
        return values

    @rule(n=st.integers(1, 7))
    def add(self, n: int) -> None:
        ids = [str(self.counter + i) for i in range(n)]
        self.counter += n
        values = self._fresh(n)
        self.gallery.add(ids, values)
        self.model.update(zip(ids, values, strict=True))

    @rule(data=st.data())
    def remove(self, data: st.DataObject) -> None:
        if not self.model:
            return
        ids = data.draw(st.lists(st.sampled_from(sorted(self.model)), unique=True, max_size=4))
        self.gallery.remove(ids)
        for tid in ids:
            del self.model[tid]

    @rule(data=st.data())
    def replace(self, data: st.DataObject) -> None:
        if not self.model:
            return
        ids = data.draw(st.lists(st.sampled_from(sorted(self.model)), unique=True, min_size=1))
        values = self._fresh(len(ids))
        self.gallery.replace(ids, values)
        self.model.update(zip(ids, values, strict=True))

    @rule(data=st.data(), n=st.integers(0, 4))
    def upsert(self, data: st.DataObject, n: int) -> None:
        known = data.draw(st.lists(st.sampled_from(sorted(self.model) or ["-"]), unique=True))
        known = [tid for tid in known if tid in self.model]
        ids = known + [str(self.counter + i) for i in range(n)]
        if not ids:
            return
        self.counter += n
        ids = data.draw(st.permutations(ids))
        values = self._fresh(len(ids))
        self.gallery.upsert(ids, values)
        self.model.update(zip(ids, values, strict=True))

    @rule()
    def reopen(self) -> None:
        self.gallery.close()
        self.gallery = Gallery.open(self.path)

    @invariant()
    def holds_the_model(self) -> None:
        ids = self.gallery.ids
        assert len(ids) == len(set(ids)) == len(self.gallery) == len(self.model)
        assert set(ids) == set(self.model)
        if ids:
            expected = np.stack([self.model[i] for i in ids])
            np.testing.assert_array_equal(self.gallery.get(ids), expected)
            blocks = self.gallery.blocks()
            rows = np.concatenate([b.rows for b in blocks])
            np.testing.assert_array_equal(rows, expected)
            # The codes follow every change.
            _assert_codes_follow_the_templates(self.gallery)

    def teardown(self) -> None:
        self.gallery.close()
        self.tmp.cleanup()


def test_gallery_follows_a_dict_model() -> None:
    # A test function, not GalleryModel.TestCase: unittest cases take no fixtures, and this
    # runs once for each codes layout.
    run_state_machine_as_test(
        GalleryModel,
        settings=settings(
            max_examples=40,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


def test_a_version_1_gallery_is_upgraded_when_opened(tmp_path: Path) -> None:
    # Version 1 stored each block's templates as (dim, block) columns in vectors.bin and had no
    # codes. Written here byte for byte as that format did.
    values, block, path = _vectors(11), 4, tmp_path / "g"
    path.mkdir()
    capacity = 3
    columns = np.zeros((capacity, DIM, block), np.float16)
    norms = np.zeros((capacity, block), np.float32)
    ids = np.zeros(capacity * block, "S8")
    stored = values.astype(np.float16)
    for slot, row in enumerate(stored):
        columns[slot // block, :, slot % block] = row
        norms[slot // block, slot % block] = 0.5 * np.square(row.astype(np.float64)).sum()
        ids[slot] = f"t{slot}".encode()
    columns.tofile(path / "vectors.bin")
    norms.tofile(path / "half_sq_norms.bin")
    ids.tofile(path / "ids.bin")
    header = {"format": "egate-gallery", "version": 1, "dim": DIM, "dtype": "float16"}
    header |= {"block": block, "id_bytes": 8, "count": 11, "capacity_blocks": capacity}
    (path / "gallery.json").write_text(json.dumps(header))
    with Gallery.open(path) as gallery:
        assert gallery.ids == [f"t{i}" for i in range(11)]
        np.testing.assert_array_equal(gallery.get(gallery.ids), stored.astype(np.float32))
        codes, terms = encode_templates(stored)
        blocks = gallery.blocks()
        np.testing.assert_array_equal(_code_rows(blocks), codes)
        np.testing.assert_array_equal(np.concatenate([b.terms for b in blocks], axis=1), terms)
        hits = Searcher(gallery).search(values[[3]], k=1)
        assert [h.id for h in hits[0]] == ["t3"]
    assert json.loads((path / "gallery.json").read_text())["version"] == 3
    assert json.loads((path / "gallery.json").read_text())["codes_layout"] == "columns"
    assert not (path / "vectors.bin").exists()
    with Gallery.open(path) as reopened:
        np.testing.assert_array_equal(reopened.get(["t10"]), stored[10:].astype(np.float32))


# A child process that replaces, upserts or removes templates and dies (os._exit, no clean-up) when
# the gallery computes the codes for the n-th time: after that template's row and norm were
# written, before its codes and terms.
_DYING_WRITER = """
import os, sys
import numpy as np
import biometrics.matcher.gallery as module
from biometrics.matcher import Gallery

path, operation, die_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
calls = 0
real = module.encode_templates

def dying(stored):
    global calls
    calls += 1
    if calls == die_at:
        os._exit(3)
    return real(stored)

module.encode_templates = dying
gallery = Gallery.open(path)
if operation == "replace":
    gallery.replace(["t1", "t4", "t7"], np.full((3, gallery.dim), 0.5, np.float32))
elif operation == "upsert":
    gallery.upsert(["t1", "new1", "t4", "new2"], np.full((4, gallery.dim), 0.5, np.float32))
else:
    gallery.remove(["t1", "t4", "t9"])
os._exit(0)
"""


def _state(gallery: Gallery) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Ids, stored templates, and the codes (as rows) and terms, of the whole gallery."""
    blocks = gallery.blocks()
    return (
        gallery.ids,
        gallery.get(gallery.ids),
        _code_rows(blocks),
        np.concatenate([b.terms for b in blocks], axis=1),
    )


def _assert_consistent(gallery: Gallery) -> None:
    """The codes, terms and norms are those of the stored templates; ids are unique."""
    ids, stored, _, _ = _state(gallery)
    assert len(set(ids)) == len(ids) == len(gallery)
    _assert_codes_follow_the_templates(gallery)
    norms = np.concatenate([b.half_sq_norms for b in gallery.blocks()])
    np.testing.assert_allclose(norms, 0.5 * np.square(stored.astype(np.float64)).sum(1), 1e-6)


@pytest.mark.parametrize(
    ("operation", "die_at"),
    [("replace", 1)] + [("remove", n) for n in range(1, 7)] + [("upsert", 1), ("upsert", 2)],
)
def test_a_process_dying_mid_write_leaves_the_gallery_as_it_was(
    tmp_path: Path, operation: str, die_at: int
) -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    path = tmp_path / "g"
    with Gallery.create(path, block=4) as gallery:
        gallery.add([f"t{i}" for i in range(10)], _vectors(10))
        before = _state(gallery)
    child = subprocess.run(
        [sys.executable, "-c", _DYING_WRITER, str(path), operation, str(die_at)],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 3, child.stderr
    assert (path / "undo.npz").exists()
    with Gallery.open(path) as gallery:
        assert not (path / "undo.npz").exists()
        after = _state(gallery)
        assert after[0] == before[0]
        for a, b in zip(after[1:], before[1:], strict=True):
            np.testing.assert_array_equal(a, b)
        _assert_consistent(gallery)
        assert [h.id for h in Searcher(gallery).search(_vectors(10)[4:5], k=1)[0]] == ["t4"]


def _fail_encoding(monkeypatch: pytest.MonkeyPatch, at: int) -> list[int]:
    """Make the gallery's `at`-th encoding of codes from now raise MemoryError; returns the
    list of the numbers of templates each encoding got. `monkeypatch.undo()` ends it."""
    import biometrics.matcher.gallery as module

    real = module.encode_templates
    calls: list[int] = []

    def failing(stored: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        calls.append(len(stored))
        if len(calls) == at:
            raise MemoryError("simulated")
        return real(stored)

    monkeypatch.setattr(module, "encode_templates", failing)
    return calls


def test_an_upsert_is_one_change(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Gallery.create(tmp_path / "g", block=4, id_bytes=8) as gallery:
        gallery.add([f"t{i}" for i in range(10)], _vectors(10))
        before = _state(gallery)
        # A bad id anywhere in the call: refused before the known ids are overwritten.
        for bad in (["t1", "x" * 9], ["t1", "n", "n"], ["t1", ""]):
            with pytest.raises((InvalidId, DuplicateId)):
                gallery.upsert(bad, _vectors(len(bad), seed=3))
        with pytest.raises(NonFiniteValue):
            gallery.upsert(["t1", "n"], np.full((2, DIM), np.nan, np.float32))
        # An error while appending (the second encoding: the overwrite is the first) puts the
        # overwritten templates and the count back.
        calls = _fail_encoding(monkeypatch, at=2)
        with pytest.raises(MemoryError):
            gallery.upsert(["t1", "n1", "t4", "n2"], _vectors(4, seed=3))
        monkeypatch.undo()
        assert calls == [2, 2, 2]  # the overwrite, the failed append, the roll-back
        assert not (tmp_path / "g" / "undo.npz").exists()
        after = _state(gallery)
        assert after[0] == before[0]
        for a, b in zip(after[1:], before[1:], strict=True):
            np.testing.assert_array_equal(a, b)
        _assert_consistent(gallery)
        # Done for real: known ids keep their slots, new ones are appended in call order.
        values = _vectors(4, seed=3)
        gallery.upsert(["t1", "n1", "t4", "n2"], values)
        assert gallery.ids == [f"t{i}" for i in range(10)] + ["n1", "n2"]
        np.testing.assert_array_equal(gallery.get(["t1", "n1", "t4", "n2"]), values)
        _assert_consistent(gallery)
    with Gallery.open(tmp_path / "g") as reopened:
        np.testing.assert_array_equal(reopened.get(["t1", "n1", "t4", "n2"]), values)


def test_an_error_mid_removal_rolls_the_gallery_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Gallery.create(tmp_path / "g", block=4) as gallery:
        gallery.add([f"t{i}" for i in range(10)], _vectors(10))
        before = _state(gallery)
        _fail_encoding(monkeypatch, at=3)
        with pytest.raises(MemoryError):
            gallery.remove(["t1", "t4", "t9"])
        monkeypatch.undo()
        assert not (tmp_path / "g" / "undo.npz").exists()
        after = _state(gallery)
        assert after[0] == before[0]
        assert "t4" in gallery
        for a, b in zip(after[1:], before[1:], strict=True):
            np.testing.assert_array_equal(a, b)
        _assert_consistent(gallery)
        gallery.remove(["t4"])
        assert "t4" not in gallery
        assert len(gallery) == 9
        _assert_consistent(gallery)


def test_a_journal_that_does_not_fit_the_gallery_is_refused(tmp_path: Path) -> None:
    with Gallery.create(tmp_path / "g", block=4) as gallery:
        gallery.add(["a", "b"], _vectors(2))
    np.savez(
        tmp_path / "g" / "undo.npz",
        slots=np.array([10**9]),
        templates=np.zeros((1, DIM), np.float32),
        ids=np.array([b"a"], "S64"),
        count=np.array(2),
    )
    with pytest.raises(GalleryFileError, match=r"undo\.npz does not fit"):
        Gallery.open(tmp_path / "g")


def _record_syncs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Record, in order, each fsync (of the file's or directory's name), msync of a mapped
    file, rename and deletion, each still done for real."""
    import os

    events: list[tuple[str, str]] = []
    real_fsync, real_replace, real_unlink = os.fsync, os.replace, Path.unlink
    real_flush = np.memmap.flush

    def fsync(fd: int) -> None:
        events.append(("fsync", Path(os.readlink(f"/proc/self/fd/{fd}")).name))
        real_fsync(fd)

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        events.append(("rename", Path(dst).name))
        real_replace(src, dst)

    def unlink(path: Path, missing_ok: bool = False) -> None:
        events.append(("unlink", path.name))
        real_unlink(path, missing_ok=missing_ok)

    def flush(array: np.memmap) -> None:
        events.append(("msync", Path(str(array.filename)).name))
        real_flush(array)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(Path, "unlink", unlink)
    monkeypatch.setattr(np.memmap, "flush", flush)
    return events


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd (Linux)")
@pytest.mark.parametrize("operation", ["add", "replace", "upsert", "remove"])
def test_each_change_reaches_the_disk_in_an_order_a_power_cut_cannot_break(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, operation: str
) -> None:
    """The undo record is on disk (file and directory entry) before a replace or remove
    starts; the changed pages are msynced before an add's header counts them and before the
    undo record is deleted; the header is an fsynced copy renamed into place, then the
    directory is synced."""
    path = tmp_path / "g"
    data_files = {"templates.bin", "half_sq_norms.bin", "ids.bin", "codes.bin", "code_terms.bin"}
    with Gallery.create(path, block=4) as gallery:
        gallery.add([f"t{i}" for i in range(10)], _vectors(10))
        events = _record_syncs(monkeypatch)
        if operation == "add":
            gallery.add(["new"], _vectors(1, seed=7))
        elif operation == "replace":
            gallery.replace(["t3"], _vectors(1, seed=7))
        elif operation == "upsert":
            gallery.upsert(["t3", "new"], _vectors(2, seed=7))
        else:
            gallery.remove(["t3"])
        monkeypatch.undo()

    def at(event: tuple[str, str]) -> int:
        assert event in events, (event, events)
        return events.index(event)

    header = at(("rename", "gallery.json"))
    assert events[header - 1 : header + 2] == [
        ("fsync", "gallery.json.tmp"),
        ("rename", "gallery.json"),
        ("fsync", "g"),
    ]
    if operation == "add":
        assert all(at(("msync", name)) < header for name in data_files)
        assert ("rename", "undo.npz") not in events
        return
    journal = at(("rename", "undo.npz"))
    assert at(("fsync", "undo.npz.tmp.npz")) < journal
    assert events[journal + 1] == ("fsync", "g")
    assert not any(kind == "msync" for kind, _ in events[:journal])
    deleted = at(("unlink", "undo.npz"))
    assert all(journal < at(("msync", name)) < deleted for name in data_files)
    assert events[deleted + 1] == ("fsync", "g")
    with Gallery.open(path) as reopened:
        assert ("t3" in reopened) is (operation != "remove")
        assert ("new" in reopened) is (operation == "upsert")
        _assert_consistent(reopened)


def test_a_version_2_gallery_opens_with_column_codes(tmp_path: Path) -> None:
    # Version 2 headers name no layout: their codes are (dim, block) int8 columns.
    path = tmp_path / "g"
    with Gallery.create(path, block=4, codes_layout=CodesLayout.COLUMNS) as gallery:
        gallery.add([f"t{i}" for i in range(6)], _vectors(6))
    header = json.loads((path / "gallery.json").read_text())
    del header["codes_layout"]
    (path / "gallery.json").write_text(json.dumps(header | {"version": 2}))
    with Gallery.open(path) as gallery:
        assert gallery.codes_layout is CodesLayout.COLUMNS
        _assert_consistent(gallery)
        assert [h.id for h in Searcher(gallery).search(_vectors(6)[[4]], k=1)[0]] == ["t4"]
        gallery.remove(["t0"])
    header = json.loads((path / "gallery.json").read_text())
    assert (header["version"], header["codes_layout"]) == (3, "columns")


@pytest.mark.parametrize("layout", list(CodesLayout))
def test_the_codes_layout_is_kept_on_reopening(tmp_path: Path, layout: CodesLayout) -> None:
    path = tmp_path / "g"
    with Gallery.create(path, block=4, codes_layout=layout) as gallery:
        gallery.add([f"t{i}" for i in range(6)], _vectors(6))
    with Gallery.open(path) as gallery:
        assert gallery.codes_layout is layout
        assert gallery.blocks()[0].codes.dtype == (
            np.uint8 if layout is CodesLayout.ROWS else np.int8
        )
        _assert_consistent(gallery)


def test_a_bad_codes_layout_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument) as caught:
        Gallery.create(tmp_path / "a", codes_layout="rows")  # type: ignore[arg-type]
    assert caught.value.value == "rows"
    with Gallery.create(tmp_path / "c"):
        pass
    header = json.loads((tmp_path / "c" / "gallery.json").read_text())
    (tmp_path / "c" / "gallery.json").write_text(json.dumps(header | {"codes_layout": "diagonal"}))
    with pytest.raises(GalleryFileError, match="diagonal"):
        Gallery.open(tmp_path / "c")
