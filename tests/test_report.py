"""The reports: the labs' index.html in a real browser, and the parity report.

- index.html from a real ``python -m labs run ... --quick`` opens in headless Chromium (Debian's
  ``chromium``; make test installs it), every figure loads (naturalWidth > 0) and a screenshot is
  taken. Without Chromium the test fails (`make test` installs it: .ci/install-chromium).
- ``python -m parity_tests.report`` on a small -k subset writes Markdown and JSON whose errors are
  real numbers, and a deliberately broken twin shows up in them as the error it introduced.
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import re
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from parity_tests.report import Attributor, measure

ROOT = pathlib.Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
REPORT = [sys.executable, "-m", "parity_tests.report"]
LABS_QUICK = [sys.executable, "-m", "labs", "run", "1.4.0", "1.4.1", "--quick", "--jobs", "2"]

#: Appended to a copy of index.html (same folder, so the same relative paths): after the load
#: event, each image's source and natural width go into the DOM, which --dump-dom prints.
IMAGE_PROBE = """
<pre id="image-probe"></pre>
<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images).map(
    (image) => ({src: image.getAttribute("src"), complete: image.complete, width: image.naturalWidth}));
  document.getElementById("image-probe").textContent = JSON.stringify(images);
});
</script>
"""


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    # a failure, never a skip: `make test` installs it (.ci/install-chromium)
    pytest.fail(
        "headless Chromium is needed (Debian: apt-get install chromium; make test installs it)"
    )


def run_chromium(page: pathlib.Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    command = [
        chromium(),
        "--headless",
        "--no-sandbox",  # CI containers run as root, where Chromium's sandbox cannot start
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--user-data-dir={page.parent / '.chromium-profile'}",
        "--virtual-time-budget=10000",  # let the load event and its handlers run before output
        *arguments,
        page.as_uri(),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def loaded_images(page: pathlib.Path) -> list[dict]:
    """Each <img> of ``page`` as the browser loaded it: src, complete, naturalWidth."""
    probe = page.with_name(f"_probe_{page.name}")
    text = page.read_text()
    probe.write_text(text.replace("</body>", IMAGE_PROBE + "</body>"))
    result = run_chromium(probe, "--dump-dom")
    match = re.search(r'<pre id="image-probe">(.*?)</pre>', result.stdout, re.S)
    assert match and match.group(1), f"no probe output from chromium: {result.stderr[-2000:]}"
    probe.unlink()
    return json.loads(match.group(1).replace("&amp;", "&").replace("&quot;", '"'))


@pytest.fixture(scope="module")
def lab_outputs(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A real quick run of two labs, each in its own process, two at a time."""
    out = tmp_path_factory.mktemp("labs")
    (out / "parity").mkdir()
    (out / "parity" / "report.html").write_text("<!DOCTYPE html><title>parity</title>\n")
    result = subprocess.run(
        [*LABS_QUICK, "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=ENV,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out


def test_index_html_loads_every_figure_in_headless_chromium(lab_outputs: pathlib.Path) -> None:
    summary = json.loads((lab_outputs / "summary.json").read_text())
    expected = sorted(f"{r['folder']}/{name}" for r in summary["labs"] for name in r["figures"])
    assert len(expected) >= 8  # 1.4.0 draws 6, 1.4.1 several
    for record in summary["labs"]:
        assert record["memory_scope"] == "lab process" and record["peak_memory_mb"] > 100
        assert record["process_seconds"] >= record["seconds"]
    page = lab_outputs / "index.html"
    images = loaded_images(page)
    assert sorted(image["src"] for image in images) == expected
    broken = [image for image in images if not (image["complete"] and image["width"] > 0)]
    assert not broken, f"figures that did not load: {broken}"
    assert 'href="parity/report.html"' in page.read_text()

    screenshot = lab_outputs / "index.png"
    result = run_chromium(page, f"--screenshot={screenshot}", "--window-size=1280,2400")
    assert screenshot.is_file(), result.stderr[-2000:]
    assert (
        screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 20_000
    )


def test_the_image_probe_sees_a_missing_figure(lab_outputs: pathlib.Path) -> None:
    """The check above can fail: a page naming a figure that is not there shows width 0."""
    page = lab_outputs / "broken.html"
    page.write_text(
        '<!DOCTYPE html><html><body><img src="lab-1.4.0/activations.png">'
        '<img src="lab-1.4.0/no_such_figure.png"></body></html>'
    )
    widths = {image["src"]: image["width"] for image in loaded_images(page)}
    assert widths["lab-1.4.0/activations.png"] > 0 and widths["lab-1.4.0/no_such_figure.png"] == 0


# ----------------------------------------------------------------------------------------------
# The parity report
# ----------------------------------------------------------------------------------------------


def test_measure_follows_the_documented_definitions() -> None:
    expected = np.array([1.0, 100.0, 0.0, 1e-9, np.nan, np.inf])
    actual = np.array([1.001, 100.0, 2e-6, 0.0, np.nan, 1.0])
    stat = measure(actual, expected, rtol=1e-5, atol=1e-5)
    assert stat.max_abs == pytest.approx(1e-3)  # over finite pairs
    assert stat.max_rel == pytest.approx(1e-3)  # 2e-6 at 0 and 1e-9 at 1e-9: |e| under atol
    assert stat.used == pytest.approx(1e-3 / (1e-5 + 1e-5 * 1.0))
    assert stat.nonfinite_mismatches == 1  # inf vs 1.0; NaN vs NaN agrees
    assert (stat.elements, stat.comparisons) == (6, 1)
    assert measure(np.float32(2.0), 2.0, rtol=1e-6, atol=0.0).used == 0.0
    assert (
        measure([1e-7, 2e-6], [0.0, 1e-6], rtol=1e-5, atol=1e-5).max_rel is None
    )  # all under atol


def test_contexts_are_attributed_to_rows_comparisons_and_sides() -> None:
    from parity_tests.cases import CASES

    attribute = Attributor(CASES)
    softmax = "activations.softmax[torch semantics: 0-d, zero-size, axis tuples]"
    cases = {
        "activations.relu [float32] mixed signs: jaxmath vs torch_ref leaf 0": (
            "activations.relu",
            "float32",
            "torch_ref",
            "jaxmath",
            "forward",
        ),
        "activations.relu [float64] x: jax.vjp vs torch_ref autograd leaf 0": (
            "activations.relu",
            "float64",
            "torch_ref",
            "jaxmath",
            "gradient",
        ),
        "activations.relu [float32] x: torch_ref vs autograd of torch.nn.functional.relu leaf 0": (
            "activations.relu",
            "float32",
            "torch.nn.functional.relu",
            "torch_ref",
            "gradient",
        ),
        "activations.relu a: jaxmath gradient vs numerical leaf 0": (
            "activations.relu",
            "float64",
            "numerical gradient",
            "jaxmath",
            "gradient",
        ),
        f"{softmax} [float64] 0-d: a: jaxmath vs torch_ref leaf 0": (
            softmax,
            "float64",
            "torch_ref",
            "jaxmath",
            "forward",
        ),
        "activations.relu [float32] x: jit vs eager leaf 0": (
            "activations.relu",
            "float32",
            "jit",
            "jaxmath",
            "forward",
        ),
    }
    for context, expected in cases.items():
        found = attribute(context)
        assert found is not None, context
        assert (found.case, found.dtype, found.against, found.side, found.part) == expected
    assert attribute("somewhere else: jaxmath vs torch_ref") is None
    assert attribute("activations.relu [float32] x: shape mismatch") is None


BROKEN_TWIN = """
import torch_ref.activations as module

_original = module.relu


def pytest_configure(config):
    module.relu = lambda x, *args, **kwargs: _original(x, *args, **kwargs) + 1e-3
"""


def test_parity_report_on_a_subset_with_a_deliberately_broken_twin(tmp_path: pathlib.Path) -> None:
    """sigmoid as it is, relu's torch twin broken by +1e-3: the report measures both."""
    (tmp_path / "broken_twin.py").write_text(textwrap.dedent(BROKEN_TWIN))
    out = tmp_path / "parity"
    keyword = (
        "test_forward_matches_twin_and_references and (activations.relu- or activations.sigmoid-)"
    )
    result = subprocess.run(
        [*REPORT, "--out", str(out), "-k", keyword, "--", "-p", "broken_twin"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**ENV, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])},
        check=False,
    )
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]  # relu fails
    report = json.loads((out / "report.json").read_text())
    rows = {(row["function"], row["dtype"]): row for row in report["rows"]}
    assert set(rows) == {
        (name, dtype)
        for name in ("activations.relu", "activations.sigmoid")
        for dtype in ("float32", "float64")
    }
    for (name, dtype), row in rows.items():
        assert row["samples"] >= 1 and row["references"], (name, dtype)
        twin = row["comparisons"]["torch_ref"]["jaxmath forward"]
        stats = [twin]
        if name == "activations.relu":  # the +1e-3 against the twin; the test stops there
            assert twin["max_abs"] == pytest.approx(1e-3, rel=1e-3 if dtype == "float64" else 0.05)
            assert twin["used"] > 1.0 and twin["comparisons"] == 1
            assert row["failed_tests"] == [f"test_forward_matches_twin_and_references[{dtype}]"]
        else:  # every sample against the twin and each reference, within tolerance
            assert twin["comparisons"] == row["samples"] and not row["failed_tests"]
            for reference in row["references"]:
                stats.append(row["comparisons"][reference]["jaxmath forward"])
                stats.append(row["comparisons"][reference]["torch_ref forward"])
        for stat in stats:
            assert stat["elements"] > 0
            assert stat["max_rel"] is None or 0.0 <= stat["max_rel"] < math.inf
            for value in (stat["max_abs"], stat["used"]):
                assert isinstance(value, float) and math.isfinite(value) and value >= 0.0
            if name == "activations.sigmoid":
                assert stat["used"] <= 1.0
    markdown = (out / "report.md").read_text()
    assert "| function | dtype | samples (+ edge) | against | forward max abs |" in markdown
    assert re.search(
        r"\| activations\.relu \| float64 \| [^|]+ \| torch twin \| 1\.0e-03 \|", markdown
    )
    assert "FAILED: test_forward_matches_twin_and_references[float32]" in markdown
    assert "<table>" in (out / "report.html").read_text()
    assert not (out / ".parts").exists()
