"""The preview page's colour legend, cursor readout and status panel in a real headless chromium against a real
daemon in metric ground mode (demo source, trained proxy); /depth_at checked against the ZeroMQ metric topic."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402 - after the skip checks
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from .test_metric import by_seq, ground  # noqa: F401 - the ground-mode daemon fixture
from .test_upload_page import browser  # noqa: F401 - the same headless chromium (skips loudly without it)


def get_json(daemon, path):
    status, headers, body = daemon.http(path)
    return status, json.loads(body)


def test_depth_at_matches_the_metric_topic(ground):  # noqa: F811
    daemon = ground
    status, legend = get_json(daemon, "/legend.json")
    assert status == 200 and legend["unit"] == "m" and len(legend["stops"]) == 16 and legend["anchor"]["ok"]
    metres = [t["metres"] for t in legend["ticks"]]
    assert all(m is None or m > 0 for m in metres)
    finite = [m for m in metres if m is not None]
    assert finite == sorted(finite, reverse=True)  # index 0 is far, index 255 near
    for _ in range(20):  # the same frame on both sides: retry until the seqs meet (10 fps)
        got = by_seq(daemon.zmq_endpoint, ("metric",))
        header, metric = got["metric"]
        status, at = get_json(daemon, "/depth_at?x=0.25&y=0.8&view=depth")
        assert status == 200
        if at["seq"] == header["seq"]:
            break
    else:
        pytest.fail("never the same frame on /depth_at and the metric topic")
    assert (at["u"], at["v"]) == (64, 153)  # 0.25 * 256, 0.8 * 192
    assert at["metres"] == pytest.approx(float(metric[153, 64]), abs=1e-4)
    status, side = get_json(daemon, "/depth_at?x=0.625&y=0.8&view=side_by_side")
    assert status == 200 and side["u"] == 64  # the right half shows the same scene
    assert get_json(daemon, "/depth_at?x=2&y=0.5")[0] == 400
    assert get_json(daemon, "/depth_at?x=abc&y=0.5")[1]["error"].startswith("x and y must be numbers")


def test_page_shows_legend_readout_and_status(ground, browser):  # noqa: F811 - the imported fixtures
    daemon, driver = ground, browser
    driver.get(f"http://127.0.0.1:{daemon.http_port}/?view=depth")
    WebDriverWait(driver, 20).until(lambda d: " m" in d.find_element("id", "legend-ticks").text)
    ticks = driver.find_element("id", "legend-ticks").text
    assert "near → far, metres" in driver.find_element("id", "legend-title").text and ticks.count(" m") >= 4
    bar = driver.execute_script("return getComputedStyle(document.getElementById('legend-bar')).backgroundImage")
    assert bar.startswith("linear-gradient") and bar.count("rgb(") == 16
    WebDriverWait(driver, 20).until(lambda d: "anchored" in d.find_element("id", "status-rows").text)
    rows = driver.find_element("id", "status-rows").text
    for words in ("source live", "fps in", "latency", "network fp32", "metric depth anchored (ground)",
                  "vs truth AbsRel"):
        assert words in rows, rows
    assert driver.find_elements("css selector", "pre") == []  # no raw JSON dump any more
    image = driver.find_element("id", "stream")
    WebDriverWait(driver, 20).until(lambda d: d.execute_script("return arguments[0].naturalWidth", image) > 0)
    ActionChains(driver).move_to_element_with_offset(image, 5, image.size["height"] // 2 - 5).perform()
    WebDriverWait(driver, 10).until(lambda d: " m at (" in d.find_element("id", "readout").text)
    readout = driver.find_element("id", "readout").text  # "2.21 m at (..)" or, with sigma, "2.21 ± 0.03 m at (..)"
    found = re.match(r"([0-9.]+)(?: ± ([0-9.]+|inf|Infinity))? m at \(", readout)
    assert found, readout
    value = float(found.group(1))
    assert 0.1 < value < 40.0 and np.isfinite(value)
