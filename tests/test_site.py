"""The built static site in a real browser (headless Chromium driven by Playwright).

Runs when ``CNN_BOOK_SITE`` names the built site (``make test`` sets it to
``_build/html`` after building). Every page must load with no JavaScript error,
no failed request and no request leaving the site (it serves its own scripts, so
it works offline); lesson pages must show their figures, rendered math and their
controls, and every control, set to another value, must show the result that was
precomputed for that value; exactly one search field is visible at desktop and at
phone width. Screenshots go to ``_build/screenshots``.
"""

import functools
import http.server
import os
import shutil
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

SITE = os.environ.get("CNN_BOOK_SITE")
pytestmark = pytest.mark.skipif(not SITE, reason="set CNN_BOOK_SITE to the built site (make test does)")
SHOTS = Path(__file__).resolve().parents[1] / "_build" / "screenshots"
SHOT = {"type": "jpeg", "quality": 85}   # a PNG took 0.12-0.72 s per shot here, a JPEG 0.05-0.08 s
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-quic", "--no-first-run", "--disable-sync"]


def pages():
    root = Path(SITE or ".")
    return sorted(str(p.relative_to(root)) for p in root.glob("book/**/*.html"))


@pytest.fixture(scope="module")
def server():
    root = Path(SITE)
    assert (root / "index.html").is_file(), f"no built site at {root}: run `make book` first"
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    assert executable, "Chromium is needed for the site check: apt-get install chromium (make test does this as root)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield b
        b.close()


def open_page(browser, url, viewport=(1280, 900)):
    """Load a page; return it with the JavaScript errors, failed requests and requests off the site seen on the way."""
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
    problems = []
    origin = "{0.scheme}://{0.netloc}/".format(urlsplit(url))
    page.on("request", lambda r: None if r.url.startswith((origin, "data:", "blob:", "about:"))
            else problems.append(f"request left the site: {r.url}"))
    page.on("pageerror", lambda e: problems.append(f"JavaScript error: {e}"))
    page.on("console", lambda m: problems.append(f"console error: {m.text}") if m.type == "error" else None)
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    start = time.perf_counter()
    page.goto(url, wait_until="networkidle")
    page.load_seconds = time.perf_counter() - start
    return page, problems


def test_site_has_the_pages():
    assert "book/lessons/01_convolution.html" in pages()
    assert "book/appendix/interview_questions.html" in pages()


# Set every control of every precomputed interact to another value (the next one in its grid, as a
# reader would) and compare what is shown with the panel stored for that combination of values.
SWITCH_EVERY_CONTROL = """() => {
  const failures = [];
  let checked = 0;
  document.querySelectorAll('.cnn-static-interact').forEach(root => {
    const data = JSON.parse(root.querySelector('script.cnnsi-data').textContent);
    const out = root.querySelector('.cnnsi-output');
    const controls = Array.from(root.querySelectorAll('[data-control]'));
    controls.forEach((el, c) => {
      const n = data.labels[c].length;
      if (n < 2) return;
      const before = el.value;
      el.value = String((parseInt(before, 10) + 1) % n);
      el.dispatchEvent(new Event(el.tagName === 'SELECT' ? 'change' : 'input', {bubbles: true}));
      const key = controls.map(e => e.value).join(',');
      const expected = document.createElement('div');
      expected.innerHTML = data.panels[key];
      if (data.panels[key] === undefined || out.innerHTML !== expected.innerHTML || root.dataset.shown !== key) {
        failures.push(root.id + ': control ' + c + ' set to ' + el.value + ' did not show panel ' + key);
      }
      checked += 1;
      el.value = before;
      el.dispatchEvent(new Event('change', {bubbles: true}));
    });
  });
  return {failures: failures, checked: checked,
          containers: document.querySelectorAll('.cnn-static-interact').length};
}"""


def loads_cleanly(page, problems, path):
    """The checks every page gets: no problem on the way, loaded within 3 s, a screenshot."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / (path.replace("/", "_").replace(".html", ".jpg"))), **SHOT)
    assert problems == []
    assert page.load_seconds < 3, f"{path} took {page.load_seconds:.1f} s to load from a local server"


@pytest.mark.parametrize("path", [p for p in pages() if "/lessons/" not in p])
def test_page_loads_without_errors(server, browser, path):
    page, problems = open_page(browser, f"{server}/{path}")
    loads_cleanly(page, problems, path)
    page.close()


# A lesson page is loaded once and checked for everything a lesson must show (loading each page once
# per check tripled the time of this file).
@pytest.mark.parametrize("path", [p for p in pages() if "/lessons/" in p])
def test_lesson_page(server, browser, path):
    page, problems = open_page(browser, f"{server}/{path}")
    loads_cleanly(page, problems, path)
    name = path.replace("/", "_").replace(".html", "")

    # Its figures, rendered math and controls are shown.
    controls = ".cnn-static-interact select, .cnn-static-interact input[type=range]"   # a lesson's knobs
    page.wait_for_selector(controls, state="visible", timeout=15000)
    figures = page.locator(".cell_output img")
    loaded = page.evaluate("Array.from(document.querySelectorAll('.cell_output img'))"
                           ".filter(i => i.complete && i.naturalWidth > 50).length")
    assert figures.count() >= 3 and loaded == figures.count(), f"{loaded}/{figures.count()} figures loaded"
    assert page.locator("mjx-container").count() > 0, "math was not rendered by MathJax"
    widget = page.locator(controls).first
    widget.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / f"{name}_widget.jpg"), **SHOT)

    # Every control, set to another value, shows the result precomputed for that value.
    result = page.evaluate(SWITCH_EVERY_CONTROL)
    assert result["containers"] >= 1 and result["checked"] >= 1, result
    assert result["failures"] == []
    first = page.locator(".cnn-static-interact").first
    first.scroll_into_view_if_needed()
    control = first.locator("select, input[type=range]").first
    before = first.get_attribute("data-shown")
    if control.evaluate("e => e.tagName") == "SELECT":     # a real selection or key press, as a reader makes it
        control.select_option(index=0 if control.evaluate("e => e.selectedIndex") else 1)
    else:
        control.focus()
        page.keyboard.press("ArrowLeft" if control.evaluate("e => e.value === e.max") else "ArrowRight")
    assert first.get_attribute("data-shown") != before, "a real input event did not switch the result"
    page.screenshot(path=str(SHOTS / f"{name}_switched.jpg"), **SHOT)
    assert problems == []
    page.close()


@pytest.mark.parametrize("width,height", [(1280, 900), (390, 844)])
def test_exactly_one_search_field_is_visible(server, browser, width, height):
    page, problems = open_page(browser, f"{server}/book/lessons/01_convolution.html", viewport=(width, height))
    visible = page.evaluate("""() => Array.from(document.querySelectorAll(
        '.search-button__button, input[type=search], #searchbox input')).filter(e => {
          const r = e.getBoundingClientRect(), s = getComputedStyle(e);
          return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none';
        }).length""")
    page.screenshot(path=str(SHOTS / f"search_{width}x{height}.jpg"), **SHOT)
    assert visible == 1, f"{visible} search fields visible at {width}x{height}"
    assert problems == []
    page.close()
