"""`targen review`'s page in a real headless Chromium, driven by chromedriver (both Debian's): decisions
by keyboard and by mouse, undo, a span selected in its field, the server killed mid-way and reopened;
what is on disk is exactly what was decided, and `targen audit` scores it as worked by hand."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from conftest import MANUAL_QA, ROOT, copy_run, exact_dedup_only
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from targen_ray.engine import job as job_mod
from targen_ray.engine.review import decisions
from targen_ray.engine.review.sample import sample
from targen_ray.engine.runner import run
from targen_ray.engine.store import RunDir
from targen_ray.engine.tasks.declared import normalise
from targen_ray.interface.cli import main

pytestmark = pytest.mark.slow  # a real browser, review servers as processes, two runs and a report (~35 s)

SAMPLE = 14


@pytest.fixture(scope="module")
def browser():
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and chromedriver, "Debian's chromium and chromium-driver are needed (`make test` installs them)"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium  # Debian's: nothing is downloaded
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,1000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def boolq(finished_boolq, tmp_path_factory):
    return copy_run(finished_boolq, tmp_path_factory.mktemp("review"))  # the review writes into it


class Server:
    """`targen review` as its own process (so that it can be killed), and its URL."""

    def __init__(self, run_dir, reviewer: str):
        cmd = [sys.executable, "-m", "targen_ray", "review", str(run_dir), "--sample", str(SAMPLE)]
        self.proc = subprocess.Popen(
            [*cmd, "--reviewer", reviewer], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        line = self.proc.stdout.readline()
        assert line.startswith("review: http://127.0.0.1:"), line + self.proc.stderr.read()
        self.url = line.split(" ", 1)[1].strip()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


def _text(driver, css: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, css).text


def _open(driver, url: str) -> None:
    driver.get(url)
    WebDriverWait(driver, 30).until(lambda d: _text(d, "#row-id"))


def _press(driver, keys: str, wait_decided: int | None = None) -> None:
    ActionChains(driver).send_keys(keys).perform()  # to the page as it is: no click, so a selection stays
    if wait_decided is not None:
        try:
            WebDriverWait(driver, 10).until(lambda d: _text(d, "#progress").startswith(f"{wait_decided} / "))
        except TimeoutException:
            progress, said = _text(driver, "#progress"), _text(driver, "#status")
            raise AssertionError(f"{keys!r}: {progress} decided; {said}") from None


def test_a_review_by_keyboard_and_mouse_survives_a_killed_server(boolq, browser, capsys):
    labels = ["False", "True"]
    made: dict[str, dict] = {}  # what this reviewer decided, last decision per row
    server = Server(boolq, "ana")
    try:
        _open(browser, server.url)
        assert _text(browser, "#progress") == f"0 / {SAMPLE}"
        for n in range(10):  # ten by keyboard: a label key; some with a defect key or a note first
            row, final = _text(browser, "#row-id"), _text(browser, "#final")
            label = final if n % 3 else labels[1 - labels.index(final)]  # every third: the other label
            defects, note = [], None
            if n == 2:
                _press(browser, "w")  # wrong label
                defects = ["wrong label"]
            if n == 4:
                _press(browser, "n")
                browser.find_element(By.ID, "note").send_keys("question is vague\n")
                note = "question is vague"
            _press(browser, str(labels.index(label) + 1), wait_decided=n + 1)
            made[row] = {"label": label, "defects": defects, "note": note}
        _press(browser, "z", wait_decided=9)  # undo: the last decision is taken back, its row shown again
        undone = _text(browser, "#row-id")
        assert undone == list(made)[-1]
        made.pop(undone)
        server.kill()  # mid-way: nothing decided is lost
    finally:
        server.proc.kill()

    server = Server(boolq, "ana")
    try:
        _open(browser, server.url)
        assert _text(browser, "#progress") == f"9 / {SAMPLE}"  # reopened where it stopped
        assert _text(browser, "#row-id") == undone  # the first row not decided
        for n in range(2):  # two by mouse
            row = _text(browser, "#row-id")
            browser.find_element(By.CSS_SELECTOR, f'.label-btn[data-label="{labels[n]}"]').click()
            WebDriverWait(browser, 10).until(lambda d, k=10 + n: _text(d, "#progress") == f"{k} / {SAMPLE}")
            made[row] = {"label": labels[n], "defects": [], "note": None}
        for n in range(12, SAMPLE + 1):
            row, final = _text(browser, "#row-id"), _text(browser, "#final")
            _press(browser, str(labels.index(final) + 1), wait_decided=n)
            made[row] = {"label": final, "defects": [], "note": None}
        assert browser.find_element(By.ID, "done").is_displayed()
        with pytest.raises(urllib.error.HTTPError) as refused:  # no token, no page
            urllib.request.urlopen(server.url.split("?")[0], timeout=10)
        assert refused.value.code == 403
    finally:
        server.kill()

    run_dir = RunDir(boolq)
    task, rows = sample(run_dir, SAMPLE)
    ident = task.lineage_name("id")
    on_disk = decisions.read(run_dir, [], {r[ident] for r in rows}, labels)["ana"]
    assert {i: {**d, "label": labels[d["label"]]} for i, d in on_disk.items()} == {
        i: {**d, "answer": None} for i, d in made.items()
    }
    lines = (boolq / RunDir.review_decisions("ana")).read_text().splitlines()
    assert len(lines) == 10 + 1 + 2 + 3  # append-only: ten by keyboard, the undo, two by mouse, three more
    assert main(["audit", str(boolq)]) == 0
    final = {r[ident]: labels[r[task.lineage_name("final_label")]] for r in rows}
    audit = json.loads((boolq / RunDir.audit_file()).read_text())
    assert audit["rows"] == SAMPLE
    assert audit["accuracy"]["value"] == round(sum(final[i] == d["label"] for i, d in made.items()) / SAMPLE, 4)
    assert "label accuracy" in capsys.readouterr().out
    # The report (made after the audit here) has it: metrics.json, a section and its plot.
    assert main(["analyze", str(boolq)]) == 0
    metrics = json.loads((boolq / RunDir.report() / "metrics.json").read_text())
    assert metrics["audit"]["accuracy"] == audit["accuracy"]
    assert "Label accuracy (human review)" in (boolq / RunDir.report() / "report.html").read_text()
    assert (boolq / RunDir.report() / "plots" / "audit.png").stat().st_size > 0
    capsys.readouterr()
    assert main(["audit", str(boolq)]) == 0  # with a report there, the audit renews its section at once
    assert f"report: {boolq}/{RunDir.report()}/report.html" in capsys.readouterr().out


def test_an_answer_span_is_selected_in_its_field(ray_session, fake, browser, tmp_path):
    # A run of its own: the double click below lands on a word of this run's first context (on the
    # session's 400-row run it once landed between words).
    run_dir = tmp_path / "run"
    run(job_mod.load(exact_dedup_only(MANUAL_QA, tmp_path), fake.endpoints()), str(run_dir), limit=10, in_driver=True)
    server = Server(run_dir, "ben")
    try:
        _open(browser, server.url)
        first, answer = _text(browser, "#row-id"), _text(browser, "mark")  # the answer marked in its context
        assert answer and answer == _text(browser, "#final")
        _press(browser, "1", wait_decided=1)  # the answer is right
        second, second_final = _text(browser, "#row-id"), _text(browser, "#final")
        # A reviewer's double click selects the word under the pointer; "a" takes the selection.
        ActionChains(browser).double_click(browser.find_element(By.ID, "field-context")).perform()
        chosen = browser.execute_script("return String(getSelection())")
        assert chosen.strip()
        _press(browser, "a", wait_decided=2)
    finally:
        server.kill()
    ids = {first, second}
    on_disk = decisions.read(RunDir(run_dir), [], ids, [])["ben"]
    assert {i: d["answer"] for i, d in on_disk.items()} == {first: answer, second: chosen.strip()}
    # The audit scores answers: exact match after the task's normalisation.
    assert main(["audit", str(run_dir)]) == 0
    audit = json.loads((run_dir / RunDir.audit_file()).read_text())
    hits = 1 + (normalise(chosen) == normalise(second_final))
    assert audit["by"] == "answer" and audit["rows"] == 2 and audit["accuracy"]["value"] == hits / 2


def test_a_port_in_use_is_one_line(boolq, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["review", str(boolq), "--port", str(port), "--reviewer", "cy"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"targen: error: review: port {port} on 127.0.0.1 is in use (--port 0 takes a free one)"]
