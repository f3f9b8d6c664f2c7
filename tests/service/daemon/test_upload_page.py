"""The preview page's photo panel in a real headless browser (Debian's chromium + chromedriver, driven by Selenium)
against a real daemon: drop a photo and see its depth appear with a download link; pick another format; upload
garbage and see the server's message. Nothing is downloaded at run time: the driver is /usr/bin/chromedriver.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import pytest

from tests.conftest import IMAGES

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), "/usr/bin/chromedriver"
webdriver = pytest.importorskip("selenium.webdriver", reason="LOUD SKIP: the browser test needs the selenium "
                                "package (pip install -e '.[test]')")
if not CHROMIUM or not Path(CHROMEDRIVER).is_file():
    pytest.skip("LOUD SKIP: the browser test needs Debian's chromium and chromium-driver (make system-deps, or "
                "apt-get install chromium chromium-driver)", allow_module_level=True)

from selenium.webdriver.chrome.service import Service  # noqa: E402 - after the skip checks
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
         "--window-size=1100,1500")
UPLOAD_TIMEOUT_S = 180.0  # the first photo of an aspect exports the network at that size (torch), on a busy box

DROP = """
const [path_input] = arguments;
const dt = new DataTransfer();
dt.items.add(path_input.files[0]);
document.getElementById("upload-drop").dispatchEvent(
    new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
"""
WATCH_STATES = """
window.uploadStates = [];
new MutationObserver(() => window.uploadStates.push(document.getElementById("upload").dataset.state))
    .observe(document.getElementById("upload"), {attributes: true, attributeFilter: ["data-state"]});
"""


@pytest.fixture
def browser(tmp_path):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def wait_state(driver, state: str, timeout: float = UPLOAD_TIMEOUT_S) -> None:
    WebDriverWait(driver, timeout).until(
        lambda d: d.execute_script("return document.getElementById('upload').dataset.state") in (state, "error")
        and d.execute_script("return window.uploadStates.length") > 0)
    got = driver.execute_script("return document.getElementById('upload').dataset.state")
    error = driver.find_element("id", "upload-error").text
    assert got == state, f"panel in state {got!r}, error {error!r}"


def test_drop_a_photo_see_its_depth_and_the_error_for_garbage(spawn, browser, tmp_path, capsys):
    daemon = spawn("--set", "source.loop=true")
    photo = tmp_path / "lions.jpg"
    image = cv2.imread(str(IMAGES["lions"]))
    # 4:3 like the clip, so the network size is the one the daemon warmed up (no export inside the test's time).
    cv2.imwrite(str(photo), cv2.resize(image, (640, 480), interpolation=cv2.INTER_AREA))
    garbage = tmp_path / "notes.txt"
    garbage.write_text("this is not a photo\n" * 50)
    daemon.wait_healthy()
    browser.get(f"http://127.0.0.1:{daemon.http_port}/")
    WebDriverWait(browser, 10).until(lambda d: d.execute_script("return window.fetch && document.readyState")
                                     == "complete")

    # Drop: a DataTransfer holding the file, dropped on the drop zone as a browser does for a dragged file.
    browser.execute_script(WATCH_STATES)
    carrier = browser.execute_script("const i = document.createElement('input'); i.type = 'file'; "
                                     "i.style.display = 'none'; document.body.append(i); return i;")
    carrier.send_keys(str(photo))
    browser.execute_script(DROP, carrier)
    wait_state(browser, "done")
    states = browser.execute_script("return window.uploadStates")
    assert "uploading" in states and "computing" in states, states  # progress was shown on the way
    size = browser.execute_script("const i = document.getElementById('upload-result'); "
                                  "return [i.naturalWidth, i.naturalHeight, i.hidden]")
    assert size == [640, 480, False], size  # the depth, at the photo's size
    assert browser.find_element("id", "upload-result").is_displayed()
    link = browser.find_element("id", "upload-download")
    assert link.is_displayed()
    assert link.get_attribute("href").startswith("blob:") and link.get_attribute("download") == "lions_depth.png"
    assert "network 256x192" in browser.find_element("id", "upload-status").text
    shot = tmp_path / "upload_panel.png"
    browser.find_element("id", "upload").screenshot(str(shot))
    with capsys.disabled():
        print(f"\n[upload page] screenshot of the panel: {shot}")

    # Another format: the same photo again, as raw float32 for download (no picture).
    browser.execute_script("window.uploadStates = [];")
    Select(browser.find_element("id", "upload-format")).select_by_value("npy")
    wait_state(browser, "done")
    assert link.get_attribute("download") == "lions_depth.npy"
    assert not browser.find_element("id", "upload-result").is_displayed()  # nothing to picture

    # Garbage through the file chooser: the server's 400 and its message appear in the page.
    browser.execute_script("window.uploadStates = [];")
    browser.find_element("id", "upload-file").send_keys(str(garbage))
    wait_state(browser, "error", 60)
    error = browser.find_element("id", "upload-error").text
    assert error.startswith("400") and "not a decodable image" in error, error
    assert not browser.find_element("id", "upload-result").is_displayed() and not link.is_displayed()
    browser.find_element("id", "upload").screenshot(str(tmp_path / "upload_panel_error.png"))
    assert daemon.stats()["http"]["uploads"]["done"] == 2
