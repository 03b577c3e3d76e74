"""The report in a real browser: headless Chromium renders it to PNG, loads every plot, fits the width."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from carecore.metrics import program_report

from . import world
from .world import Q1, TZ

pytest.importorskip("matplotlib", reason="the report's plots need matplotlib (carecore[report])")
pytest.importorskip("jinja2", reason="the report's pages need jinja2 (carecore[report])")


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


CHROMIUM = _chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless Chromium is not installed (apt-get install chromium; .ci/run does it)",
)

#: Run after the page and its images loaded; writes what it found into the DOM.
PROBE = """
<script>
window.addEventListener("load", () => {
  const width = document.documentElement.clientWidth;
  const images = [...document.images].map(i => ({src: i.getAttribute("src"),
    ok: i.complete && i.naturalWidth > 0, right: i.getBoundingClientRect().right}));
  const wide = [...document.querySelectorAll("body *")]
    .filter(e => !e.closest(".table-wrap") && e.getBoundingClientRect().right > width + 1)
    .map(e => e.tagName + (e.id ? "#" + e.id : "") + (e.className ? "." + e.className : ""));
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify({width, scroll: document.documentElement.scrollWidth,
    images, wide, cards: document.querySelectorAll(".card").length,
    steps: document.querySelectorAll(".step").length});
  document.body.appendChild(out);
});
</script>
"""


def _flags(profile: Path, width: int) -> list[str]:
    return [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        f"--window-size={width},1200",
        "--virtual-time-budget=5000",
    ]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    from carecore.report import write_report

    out = tmp_path_factory.mktemp("report")
    write_report(program_report(world.data(), period=Q1, time_zone=TZ), out)
    return out


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("width", [1280, 500])  # 500: headless Chromium's narrowest window
def test_the_page_renders_loads_its_plots_and_fits_the_width(folder, tmp_path, width):
    page = folder / "index.html"
    probe = folder / f"probe-{width}.html"
    probe.write_text(
        page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8"
    )
    done = _run([CHROMIUM, *_flags(tmp_path / "profile", width), "--dump-dom", probe.as_uri()])
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(r'<pre id="probe">(.*?)</pre>', done.stdout, re.DOTALL)
    assert found is not None, "the page's load event never ran"
    result = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    names = {i["src"] for i in result["images"]}
    assert names >= {"revenue.png", "minutes_distribution.png", "utilization.png", "a1c.png"}
    assert [i["src"] for i in result["images"] if not i["ok"]] == []
    assert result["cards"] == 4
    assert result["steps"] == 6
    assert result["scroll"] <= result["width"], result["wide"]
    assert result["wide"] == []
    assert all(i["right"] <= result["width"] + 1 for i in result["images"])


def test_the_page_renders_to_png(folder, tmp_path):
    shot = tmp_path / "page.png"
    done = _run(
        [
            CHROMIUM,
            *_flags(tmp_path / "profile", 1000),
            f"--screenshot={shot}",
            (folder / "index.html").as_uri(),
        ]
    )
    assert done.returncode == 0, done.stderr[-2000:]
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG")
    width = int.from_bytes(data[16:20], "big")
    assert width == 1000
    assert len(data) > 20_000  # a page with text and plots, not a blank canvas
