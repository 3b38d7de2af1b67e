"""`egate` subcommands owned by `biometrics` (registered by `api.cli`)."""

from __future__ import annotations

import os
import pathlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import click

commands: list[click.Command] = []


@click.group()
def models() -> None:
    """The face-embedding model: dlib's ResNet exported to ONNX on this machine."""


@models.command("export")
@click.option(
    "--dest",
    type=click.Path(file_okay=False, path_type=pathlib.Path),
    default=None,
    help="Cache directory  [default: ~/.cache/egate/models]",
)
@click.option(
    "--weights",
    type=click.Path(exists=True, dir_okay=False, path_type=pathlib.Path),
    default=None,
    help="dlib .dat weights  [default: face_recognition_models' ResNet]",
)
def export_model_command(dest: pathlib.Path | None, weights: pathlib.Path | None) -> None:
    """Build the ONNX model (or find it, cached by the weights' SHA-256); print its path."""
    from biometrics.dlib_format import DlibFormatError
    from biometrics.embedding import export_model

    try:
        click.echo(export_model(dest, weights=weights))
    except DlibFormatError as error:
        raise click.ClickException(f"{error.code}: {error}") from error


commands.append(models)


# --- verification and evaluation on photographs (evaluation stream) -------------------

_IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".jp2", ".j2k", ".tif", ".tiff"}
)
_SMOKE_TEST_PAIRS = 1000
"""Below this many comparisons per class the rates are a smoke test, not an estimate
(ISO/IEC 19795-1's rule of 3: 0 errors in n trials bounds the rate at 3/n, 95%)."""
_EXACT_TABLE_ROWS = 20_000
"""Larger DET curves are written thinned (see evaluation.write_det_table)."""
_EXIT_MATCH, _EXIT_NO_MATCH, _EXIT_UNUSABLE = 0, 1, 2

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from biometrics.pipeline import Capture, FaceProcessor


def _processor(gate_quality: bool) -> FaceProcessor:
    """One FaceProcessor with the CPU ONNX embedder; photo quality unless `gate_quality`."""
    from biometrics.embedding import OnnxEmbedder
    from biometrics.pipeline import FaceProcessor
    from biometrics.quality import QualityPolicy

    policy = QualityPolicy() if gate_quality else QualityPolicy.photo()
    return FaceProcessor(OnnxEmbedder(), policy)


def _quality_line(capture: Capture) -> str:
    """The quality findings of one capture, one line."""
    q = capture.quality
    parts = [f"{q.face_count} face(s)"]
    for label, value, unit in (
        ("eye distance", q.eye_distance_px, " px"),
        ("yaw", q.yaw_deg, " deg"),
        ("roll", q.roll_deg, " deg"),
        ("sharpness", q.sharpness, ""),
        ("brightness", q.brightness, ""),
    ):
        if value is not None:
            parts.append(f"{label} {value:.1f}{unit}")
    verdict = "ok" if q.ok else "; ".join(f"[{i.value}] {i.message}" for i in q.issues)
    return ", ".join(parts) + f" -> {verdict}"


@dataclass(frozen=True)
class _Unusable:
    """Why an image gives no embedding: a typed error's or a quality issue's code."""

    path: pathlib.Path
    code: str
    message: str


def _capture(
    processor: FaceProcessor, path: pathlib.Path
) -> tuple[Capture | None, _Unusable | None]:
    """Process one image file; (capture, None) when it has an embedding."""
    from biometrics import BiometricsError

    try:
        capture = processor.process(path)
    except BiometricsError as error:
        return None, _Unusable(path, getattr(error, "code", "biometrics_error"), str(error))
    except OSError as error:
        return None, _Unusable(path, "unreadable_file", f"cannot read {path}: {error.strerror}")
    if capture.embedding is None:
        issues = capture.quality.issues
        code = issues[0].value if issues else "no_embedding"
        detail = "; ".join(i.message for i in issues)
        if capture.quality.face_count > 1:
            detail += f" ({capture.quality.face_count} faces found)"
        return capture, _Unusable(path, code, detail)
    return capture, None


@click.command("verify")
@click.argument("image_a", type=click.Path(exists=True, dir_okay=False, path_type=pathlib.Path))
@click.argument("image_b", type=click.Path(exists=True, dir_okay=False, path_type=pathlib.Path))
@click.option(
    "--threshold",
    type=click.FloatRange(min=0.0),
    default=0.6,
    show_default=True,
    help="Match when the Euclidean distance is at or below this.",
)
@click.option(
    "--gate-quality",
    is_flag=True,
    help="Apply the gate's capture-quality policy (90 px eye distance) instead of the photo one.",
)
def verify_command(
    image_a: pathlib.Path, image_b: pathlib.Path, threshold: float, gate_quality: bool
) -> None:
    """Compare the faces in two images (1:1).

    Exit status: 0 MATCH, 1 NO MATCH, 2 an image without exactly one usable face."""
    from biometrics.pipeline import distance

    processor = _processor(gate_quality)
    results = [
        (label, path, *_capture(processor, path))
        for label, path in (("A", image_a), ("B", image_b))
    ]
    for label, path, capture, _ in results:
        found = _quality_line(capture) if capture is not None else "not decoded"
        click.echo(f"{label}: {path}\n   quality: {found}")
    unusable = [problem for *_, problem in results if problem is not None]
    if unusable:
        for problem in unusable:
            click.echo(f"error: [{problem.code}] {problem.path}: {problem.message}", err=True)
        raise SystemExit(_EXIT_UNUSABLE)
    a, b = (capture.embedding for _, _, capture, _ in results if capture is not None)
    assert a is not None  # both usable (checked above)
    assert b is not None
    d = distance(a, b)
    decision = "MATCH" if d <= threshold else "NO MATCH"
    click.echo(f"distance {d:.4f} (threshold {threshold:g}): {decision}")
    raise SystemExit(_EXIT_MATCH if d <= threshold else _EXIT_NO_MATCH)


@dataclass(frozen=True)
class _FaceSet:
    """Embeddings of a folder laid out identity/image."""

    images: int
    identities: tuple[str, ...]
    """The identity of each embedded image (parallel to `vectors`)."""
    vectors: npt.NDArray[np.float32]
    """(n, 128) float32."""
    failures: tuple[_Unusable, ...]

    def pairs(
        self,
    ) -> tuple[
        npt.NDArray[np.float64], npt.NDArray[np.bool_], npt.NDArray[np.intp], npt.NDArray[np.intp]
    ]:
        """All unordered pairs: (distances, same identity, first index, second index)."""
        import numpy as np
        from scipy.spatial.distance import pdist

        n = len(self.identities)
        first, second = np.triu_indices(n, k=1)
        if n < 2:
            return np.zeros(0), np.zeros(0, dtype=bool), first, second
        distances = pdist(self.vectors.astype(np.float64), metric="euclidean")
        labels = np.asarray(self.identities)
        return distances, labels[first] == labels[second], first, second


def _face_set(folder: pathlib.Path, gate_quality: bool) -> _FaceSet:
    """Process every image of FOLDER/identity/image (progress on stderr)."""
    import numpy as np

    files = sorted(
        p
        for identity in folder.iterdir()
        if identity.is_dir()
        for p in identity.iterdir()
        if p.is_file() and p.suffix.lower() in _IMAGE_SUFFIXES
    )
    if not files:
        raise click.ClickException(
            f"[no_images] {folder}: no images in identity sub-folders (FOLDER/identity/image)"
        )
    processor = _processor(gate_quality)
    identities: list[str] = []
    vectors: list[npt.NDArray[np.float32]] = []
    failures: list[_Unusable] = []
    for n, path in enumerate(files, start=1):
        click.echo(f"[{n}/{len(files)}] {path.relative_to(folder)}", err=True)
        capture, problem = _capture(processor, path)
        if problem is not None or capture is None or capture.embedding is None:
            assert problem is not None
            failures.append(problem)
            click.echo(f"   skipped: [{problem.code}] {problem.message}", err=True)
            continue
        identities.append(path.parent.name)
        vectors.append(capture.embedding)
    return _FaceSet(
        images=len(files),
        identities=tuple(identities),
        vectors=np.stack(vectors) if vectors else np.zeros((0, 128), dtype=np.float32),
        failures=tuple(failures),
    )


@click.command("eval")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=pathlib.Path))
@click.option(
    "--det",
    "det_png",
    type=click.Path(dir_okay=False, path_type=pathlib.Path),
    help="Write the DET plot (PNG) here.",
)
@click.option(
    "--table",
    "det_table",
    type=click.Path(dir_okay=False, path_type=pathlib.Path),
    help="Write the DET table (CSV threshold,fmr,fnmr; .json for JSON) for the simulator.",
)
@click.option(
    "--threshold",
    type=click.FloatRange(min=0.0),
    default=0.6,
    show_default=True,
    help="Operating threshold (Euclidean distance).",
)
@click.option(
    "--fmr",
    "targets",
    type=click.FloatRange(0.0, 1.0, min_open=True, max_open=True),
    multiple=True,
    default=(0.001, 0.01),
    show_default=True,
    help="Target FMR (repeatable): report the threshold for it and the FNMR there.",
)
@click.option(
    "--gate-quality",
    is_flag=True,
    help="Apply the gate's capture-quality policy instead of the photo one.",
)
def eval_command(
    folder: pathlib.Path,
    det_png: pathlib.Path | None,
    det_table: pathlib.Path | None,
    threshold: float,
    targets: tuple[float, ...],
    gate_quality: bool,
) -> None:
    """Evaluate 1:1 verification on FOLDER laid out as identity/image (ISO/IEC 19795-1).

    Every pair of usable images is compared: same identity = genuine, else impostor."""
    import numpy as np

    from biometrics import evaluation

    faces = _face_set(folder, gate_quality)
    distances, same, _, _ = faces.pairs()
    genuine, impostor = distances[same], distances[~same]
    fte = len(faces.failures) / faces.images
    click.echo(
        f"Evaluation of {folder} (ISO/IEC 19795-1; Euclidean distance, match when <= threshold)"
    )
    click.echo(f"  images              {faces.images:>8}")
    click.echo(f"  identities          {len(set(faces.identities)):>8}")
    click.echo(f"  failures to enrol   {len(faces.failures):>8}  (FTE {fte:.2%})")
    click.echo(f"  genuine pairs       {genuine.size:>8}")
    click.echo(f"  impostor pairs      {impostor.size:>8}")
    for problem in faces.failures:
        click.echo(
            f"    not enrolled: {problem.path.relative_to(folder)} "
            f"[{problem.code}] {problem.message}"
        )
    if genuine.size == 0 or impostor.size == 0:
        raise click.ClickException(
            f"[empty_scores] need genuine and impostor pairs, "
            f"got {genuine.size} and {impostor.size}"
        )
    click.echo(
        f"  genuine distances   {genuine.min():.4f} .. {genuine.max():.4f}   "
        f"impostor distances {impostor.min():.4f} .. {impostor.max():.4f}"
    )
    rates = evaluation.error_rates(genuine, impostor, threshold)
    click.echo(
        f"  at threshold {threshold:<6g}  FMR {rates.fmr:.4%} "
        f"({np.count_nonzero(impostor <= threshold)}/{impostor.size})"
        f"   FNMR {rates.fnmr:.4%} ({np.count_nonzero(genuine > threshold)}/{genuine.size})"
    )
    eer, eer_threshold = evaluation.equal_error_rate(genuine, impostor)
    click.echo(f"  EER {eer:.4%} at threshold {eer_threshold:.4f}")
    click.echo("  target FMR   threshold   FNMR there")
    for target in targets:
        at = evaluation.threshold_for_fmr(genuine, impostor, target)
        fnmr = evaluation.error_rates(genuine, impostor, at).fnmr
        click.echo(f"  {target:<10g}   {at:.4f}      {fnmr:.4%}")
    smallest = min(genuine.size, impostor.size)
    if smallest < _SMOKE_TEST_PAIRS:
        click.echo(
            f"  NOTE: {smallest} comparisons in the smaller class (< {_SMOKE_TEST_PAIRS}): "
            f"a smoke test, not an error-rate estimate (0 errors in n comparisons only "
            f"bounds a rate at 3/n)."
        )
    if det_png is not None or det_table is not None:
        curve = evaluation.det_curve(genuine, impostor)
        if det_png is not None:
            path = evaluation.plot_det(
                {folder.name: curve},
                det_png,
                title=f"DET: {folder.name} ({genuine.size} genuine, {impostor.size} impostor)",
                operating_threshold=threshold,
            )
            click.echo(f"  DET plot: {path}")
        if det_table is not None:
            # beyond this many rows the table is thinned to a DET plot's resolution
            step = 0.01 if curve.thresholds.size > _EXACT_TABLE_ROWS else None
            written = evaluation.write_det_table(curve, det_table, probit_step=step)
            note = f" (thinned to 0.01 probit steps from {curve.thresholds.size} rows)"
            click.echo(f"  DET table: {written}{note if step else ''}")


def _default_faces() -> pathlib.Path:
    """$EGATE_FACES (a face set or its `people` folder), else ../shared/faces/people."""
    configured = os.environ.get("EGATE_FACES")
    root = (
        pathlib.Path(configured)
        if configured
        else pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "faces"
    )
    return root / "people" if (root / "people").is_dir() else root


@click.command("faces-demo")
@click.argument(
    "folder", required=False, type=click.Path(exists=True, file_okay=False, path_type=pathlib.Path)
)
@click.option("--threshold", type=click.FloatRange(min=0.0), default=0.6, show_default=True)
def faces_demo_command(folder: pathlib.Path | None, threshold: float) -> None:
    """Genuine/impostor distances for a face set (default: $EGATE_FACES or the `people`
    folder of ../shared/faces beside the repository)."""
    import numpy as np

    folder = folder if folder is not None else _default_faces()
    if not folder.is_dir():
        raise click.ClickException(
            f"[no_face_set] {folder}: not a folder (set EGATE_FACES or pass FOLDER)"
        )
    faces = _face_set(folder, gate_quality=False)
    distances, same, first, second = faces.pairs()
    names = np.asarray(faces.identities)
    left_names, right_names = names[first], names[second]
    ordered = left_names <= right_names  # each identity pair once, alphabetically
    a = np.where(ordered, left_names, right_names)
    b = np.where(ordered, right_names, left_names)
    click.echo(
        f"Face set {folder}: {faces.images} images, "
        f"{len(set(faces.identities))} identities, threshold {threshold:g}"
    )
    header = (
        f"{'class':<9} {'identity':<22} {'identity':<22} {'pairs':>5} "
        f"{'min':>7} {'max':>7} {'matched':>7} {'rejected':>8}"
    )
    click.echo(header)
    click.echo("-" * len(header))

    def row(kind: str, left: str, right: str, d: npt.NDArray[np.float64]) -> None:
        matched = int(np.count_nonzero(d <= threshold))
        click.echo(
            f"{kind:<9} {left:<22} {right:<22} {d.size:>5} "
            f"{d.min():>7.4f} {d.max():>7.4f} {matched:>7} {d.size - matched:>8}"
        )

    for kind, mask in (("genuine", same), ("impostor", ~same)):
        keys = sorted(set(zip(a[mask].tolist(), b[mask].tolist(), strict=True)))
        for left, right in keys:
            row(kind, left, right, distances[mask & (a == left) & (b == right)])
    click.echo("-" * len(header))
    for kind, mask in (("genuine", same), ("impostor", ~same)):
        if mask.any():
            row(kind, "(all)", "", distances[mask])
    for problem in faces.failures:
        click.echo(f"not used: {problem.path} [{problem.code}] {problem.message}")


commands.extend([verify_command, eval_command, faces_demo_command])
