"""report.html renders in headless Chromium with no console errors and every image decoded,
and the check itself demonstrably catches errors (negative controls)."""

from __future__ import annotations

from pathlib import Path

from tests.capacity.cdp import check_page


def test_report_html_renders_without_console_errors(report_dir: Path, chromium: str) -> None:
    result = check_page(chromium, report_dir / "report.html")
    assert result.errors == []
    assert result.title.startswith("Django vs FastAPI")
    assert len(result.images) >= 6
    for image in result.images:
        assert image["complete"] and image["width"] > 300 and image["height"] > 200, image


def test_the_check_catches_script_errors_and_broken_images(tmp_path: Path, chromium: str) -> None:
    page = tmp_path / "broken.html"
    page.write_text(
        "<!DOCTYPE html><html><head><title>broken</title></head><body>"
        "<img src='plots/missing.png' alt='x'>"
        "<script>console.error('deliberate console error'); throw new Error('deliberate');</script>"
        "</body></html>"
    )
    result = check_page(chromium, page)
    joined = "\n".join(result.errors)
    assert "deliberate console error" in joined
    assert "Error: deliberate" in joined
    assert "missing.png" in joined or "ERR_FILE_NOT_FOUND" in joined
    assert result.images and result.images[0]["width"] == 0
