"""The dashboard in a real headless Chromium against a real uvicorn server on a seeded store.

Chromium and chromedriver come from the system (Debian: ``apt-get install chromium chromium-driver``);
nothing is downloaded at test time, and a missing browser fails the test rather than skipping it.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import uvicorn
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from api.app import create_app
from api.store import TrialRow, TrialStore
from api.tables import JobStatus

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
API_KEY = "k"
SCREENSHOT = Path("/tmp/dashboard.png")
CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage", "--window-size=1440,1100"]


@dataclass(frozen=True)
class Seeded:
    url: str
    best: str  # succeeded, 400 trials, 600M-MACs
    other: str  # succeeded, 250 trials, 0.5G-MACs
    failed: str  # failed before any trial, with markup in its error
    queued: str  # never claimed


def request(budgets: list[str], seed: int = 0) -> dict[str, Any]:
    return {"budgets": budgets, "space": "ofa-mbv3-w1.2", "strategy": "evolution", "predictor": "ofa-mlp",
            "seed": seed, "time_limit": 3.0, "generations": 1000, "batch_size": 2048}


def synthetic_trials(n: int, seed: int) -> list[TrialRow]:
    """OFA-shaped archs whose accuracy grows with MACs, with noise so most trials are dominated."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        macs = float(rng.uniform(1.5e8, 9e8))
        accuracy = 0.70 + 0.09 * (1 - np.exp(-(macs - 1.5e8) / 2.5e8)) - abs(rng.normal(0, 0.012))
        arch = {"ks": rng.choice([3, 5, 7], 20).tolist(), "e": rng.choice([3, 4, 6], 20).tolist(),
                "d": rng.choice([2, 3, 4], 5).tolist(), "r": int(rng.choice([192, 208, 224]))}
        metrics = {"accuracy": float(accuracy), "macs": macs, "params": float(macs / 90 + rng.uniform(0, 1e6)),
                   "latency@note10": float(macs / 2.4e7), "accuracy_std": float(rng.uniform(0.001, 0.006))}
        rows.append(TrialRow(arch_key=f"{seed}-{i}", arch=arch, metrics=metrics))
    return rows


def run_job(store: TrialStore, budgets: list[str], n_trials: int, seed: int) -> str:
    job, _ = store.create_job(request(budgets, seed), None)
    assert store.claim_job("w").id == job.id
    rows = synthetic_trials(n_trials, seed)
    best = max(r.metrics["accuracy"] for r in rows)
    progress = {"evaluated": n_trials, "generations": 1, "search_seconds": 0.5, "best_accuracy": best}
    assert store.record_generation(job.id, "w", rows, 1, "ofa-mlp", progress)
    store.finish_job(job.id, "w", JobStatus.succeeded)
    return job.id


def seed_store(store: TrialStore) -> dict[str, str]:
    ids = {"best": run_job(store, ["600M-MACs"], 400, seed=0)}
    ids["other"] = run_job(store, ["0.5G-MACs"], 250, seed=1)
    failed, _ = store.create_job(request(["5M-params"]), None)
    store.claim_job("w")
    store.finish_job(failed.id, "w", JobStatus.failed, error="<img src=x onerror=window.pwned=1> predictor crashed")
    ids["failed"] = failed.id
    ids["queued"] = store.create_job(request(["600M-MACs"]), None)[0].id
    return ids


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    store = TrialStore(f"sqlite:///{tmp_path_factory.mktemp('dashboard') / 'db'}")
    ids = seed_store(store)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(create_app(store, api_key=API_KEY), log_level="warning", lifespan="on")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield Seeded(url=f"http://127.0.0.1:{sock.getsockname()[1]}", **ids)
    uv.should_exit = True
    thread.join(timeout=10)
    sock.close()
    store.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    if missing:
        pytest.fail(f"browser test needs {' and '.join(missing)}: apt-get install -y chromium chromium-driver",
                    pytrace=False)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    # an explicit driver path keeps selenium-manager (which would download) out of it
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()


def api_get(server: Seeded, path: str) -> Any:
    req = urllib.request.Request(server.url + path, headers={"X-API-Key": API_KEY})
    with urllib.request.urlopen(req, timeout=10) as response:
        return json.load(response)


def wait(driver: WebDriver, condition: Any, timeout: float = 15, message: str = "") -> Any:
    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(condition, message)


def js(driver: WebDriver, script: str, *args: Any) -> Any:
    return driver.execute_script(script, *args)


PLOT = "const gd = document.getElementById('pareto-plot');"
TRACE = PLOT + "const t = (gd.data || []).filter(t => t.meta && t.meta.role === arguments[0]);"


def traces(driver: WebDriver, role: str) -> list[dict[str, Any]]:
    """The plot's traces of a role ("trials", "front", "selected") as {job, x, y, customdata, text, error_y}."""
    return js(driver, TRACE + "return t.map(t => ({job: t.meta.job, x: t.x, y: t.y, customdata: t.customdata, "
              "text: t.text, error_y: t.error_y}));", role)


def row(driver: WebDriver, job_id: str) -> Any:
    return driver.find_element(By.CSS_SELECTOR, f"#jobs tr[data-job-id='{job_id}']")


def enter_key(driver: WebDriver, key: str) -> None:
    field = wait(driver, lambda d: d.find_element(By.ID, "api-key").is_displayed() and d.find_element(By.ID, "api-key"),
                 message="no API key prompt after a 401")
    field.send_keys(key)
    driver.find_element(By.ID, "api-key-save").click()


def click_plot_point(driver: WebDriver, x: float, y: float) -> None:
    """A real mouse click at the pixel where plotly drew data point (x, y)."""
    dx, dy = js(driver, PLOT + """
        gd.scrollIntoView({block: "center"});
        const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
        return [xa._offset + xa.d2p(arguments[0]) - box.width / 2, ya._offset + ya.d2p(arguments[1]) - box.height / 2];
    """, x, y)
    plot = driver.find_element(By.ID, "pareto-plot")
    ActionChains(driver).move_to_element_with_offset(plot, round(dx), round(dy)).pause(0.3).click().perform()


def requested_urls(driver: WebDriver) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def test_dashboard_in_a_real_browser(server: Seeded, browser: WebDriver) -> None:
    driver = browser
    driver.get(server.url + "/")

    # 1. every /v1 call is refused without a key: the page asks, rejects a wrong one, accepts the right one
    enter_key(driver, "wrong")
    wait(driver, lambda d: "rejected" in d.find_element(By.ID, "key-message").text, message="wrong key accepted")
    enter_key(driver, API_KEY)
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#jobs tbody tr[data-job-id]")) == 4,
         message="the four seeded jobs are not listed")
    assert not driver.find_element(By.ID, "key-panel").is_displayed()
    assert js(driver, "return localStorage.getItem('nas.apiKey')") == API_KEY

    # 2. the jobs list: status, progress, cancel only where it applies, errors shown as text, never as markup
    assert row(driver, server.best).find_element(By.CSS_SELECTOR, "[data-testid=job-status]").text == "succeeded"
    assert "400" in row(driver, server.best).text
    assert "100%" in row(driver, server.best).text
    assert not row(driver, server.best).find_element(By.CSS_SELECTOR, "[data-testid=job-cancel]").is_displayed()
    failed_row = row(driver, server.failed)
    assert "<img src=x onerror=window.pwned=1> predictor crashed" in failed_row.text
    assert not failed_row.find_elements(By.TAG_NAME, "img")
    assert js(driver, "return window.pwned") is None

    # 3. clicking a job draws all its trials, its Pareto front (as the API computes it) and its budget line
    row(driver, server.best).find_element(By.CSS_SELECTOR, ".job-id").click()
    wait(driver, lambda d: traces(d, "front") and traces(d, "front")[0]["x"], message="no Pareto front drawn")
    front_api = api_get(server, f"/v1/jobs/{server.best}/pareto?metrics=accuracy,macs")["items"]
    assert 2 <= len(front_api) < 400
    assert js(driver, PLOT + "return gd.data.length") >= 2
    [front] = traces(driver, "front")
    assert len(front["x"]) == len(front_api)
    assert front["customdata"] == [t["id"] for t in front_api]
    assert front["x"] == pytest.approx([t["metrics"]["macs"] for t in front_api])
    assert front["error_y"]["visible"] is True  # the predictor's spread as error bars
    assert front["error_y"]["array"] == pytest.approx([t["metrics"]["accuracy_std"] for t in front_api])
    assert "error bars" in driver.find_element(By.ID, "plot-note").text
    hover = front["text"][0]
    arch = front_api[0]["arch"]
    assert f"trial {front_api[0]['id']}" in hover and f"d {''.join(map(str, arch['d']))} · r {arch['r']}" in hover
    [cloud] = traces(driver, "trials")
    assert len(cloud["x"]) == 400
    shapes = js(driver, PLOT + "return gd.layout.shapes")
    assert [(s["x0"], s["line"]["dash"]) for s in shapes] == [(6e8, "dash")]

    # 4. clicking a front point opens its details and a JSON download of {arch, metrics}
    chosen = front_api[len(front_api) // 2]
    click_plot_point(driver, chosen["metrics"]["macs"], chosen["metrics"]["accuracy"])
    arch_text = wait(driver, lambda d: d.find_element(By.ID, "details-arch").text, message="no details on click")
    assert json.loads(arch_text) == chosen["arch"]
    assert f"Trial {chosen['id']}" in driver.find_element(By.ID, "details").text
    href = driver.find_element(By.ID, "download").get_attribute("href")
    assert href.startswith("blob:")
    downloaded = driver.execute_async_script(
        "fetch(arguments[0]).then(r => r.json()).then(arguments[1]);", href)
    assert downloaded == {"arch": chosen["arch"], "metrics": chosen["metrics"]}
    wait(driver, lambda d: traces(d, "selected"), message="the chosen point is not marked")
    driver.save_screenshot(str(SCREENSHOT))

    # 5. the x axis offers every cost metric of the trials; switching refetches the front for that pair
    select = Select(driver.find_element(By.ID, "x-metric"))
    assert [o.get_attribute("value") for o in select.options] == ["macs", "params", "latency@note10"]
    select.select_by_value("params")
    front_params = api_get(server, f"/v1/jobs/{server.best}/pareto?metrics=accuracy,params")["items"]
    wait(driver, lambda d: [t["customdata"] for t in traces(d, "front")] == [[t["id"] for t in front_params]],
         message="front not redrawn for params")
    assert js(driver, PLOT + "return gd.layout.shapes") == []  # the budget is on MACs, not params
    select.select_by_value("macs")

    # 6. ticking a second job overlays its front and its budget
    row(driver, server.other).find_element(By.CSS_SELECTOR, "[data-testid=job-check]").click()
    wait(driver, lambda d: {t["job"] for t in traces(d, "front")} == {server.best, server.other},
         message="second job's front not overlaid")
    shapes = js(driver, PLOT + "return gd.layout.shapes")
    assert sorted(s["x0"] for s in shapes) == [5e8, 6e8]
    driver.save_screenshot(str(SCREENSHOT.with_name("dashboard-overlay.png")))

    # 7. a failed job without trials says so instead of an empty plot
    row(driver, server.failed).find_element(By.CSS_SELECTOR, ".job-id").click()
    wait(driver, lambda d: "failed" in d.find_element(By.ID, "plot-empty").text, message="failed job not explained")
    assert not driver.find_element(By.ID, "pareto-plot").is_displayed()

    # 8. cancel a queued job from its row
    row(driver, server.queued).find_element(By.CSS_SELECTOR, "[data-testid=job-cancel]").click()
    wait(driver, lambda d: row(d, server.queued).find_element(By.CSS_SELECTOR, "[data-testid=job-status]").text
         == "cancelled", message="cancel did not take")
    assert api_get(server, f"/v1/jobs/{server.queued}")["status"] == "cancelled"

    # 9. plotly came from this server and nothing else was fetched
    urls = requested_urls(driver)
    assert server.url + "/vendor/plotly.min.js" in urls
    external = [u for u in urls if not u.startswith((server.url + "/", "blob:", "data:"))]
    assert external == []
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE" and "401" not in e["message"]]
    assert errors == []
