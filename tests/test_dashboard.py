"""The live dashboard and the static summary, fed with realistic events (and one real run)."""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState

import text2ml_jupyter
from text2ml_jupyter.notebook._curve import curve_svg
from text2ml_jupyter.notebook._progress import RunProgress
from text2ml_jupyter.notebook._summary import RESUME_HINT, render_html, render_text
from text2ml_jupyter.candidates import FAILED, PASSED, PENDING, TESTING, Candidate
from text2ml_jupyter.notebook.dashboard import STOPPING, Dashboard
from text2ml_jupyter.engine import Result
from text2ml_jupyter.evaluation import Evaluation
from text2ml_jupyter.events import Event
from text2ml_jupyter.spec import infer_spec

EVIL = "<script>alert(1)</script>"
REASON = "ValueError: Input X contains NaN <img src=x onerror=alert(2)>"
CODE = 'import pandas as pd\n\nprint("</pre><b>not bold</b>")\npipeline.fit(X, y)\n'
# every suggestion the fake trials make: the four slots, then "slot.name.param"
DISTRIBUTIONS = {
    "preprocess": CategoricalDistribution(["one_hot", "ordinal"]),
    "features": CategoricalDistribution(["passthrough"]),
    "model": CategoricalDistribution(["hgb", "logistic", "broken"]),
    "postprocess": CategoricalDistribution(["none"]),
    "model.hgb.learning_rate": FloatDistribution(0.01, 0.3, log=True),
    "model.logistic.C": FloatDistribution(0.01, 100.0, log=True),
}


# ---------------------------------------------------------------- realistic events

@pytest.fixture
def spec():
    n = 40
    frame = pd.DataFrame({
        "passenger_id": range(1, n + 1),
        "age": [20.0 + (i * 7) % 50 for i in range(n)],
        EVIL: ["a", "b", "c", "d"] * (n // 4),
        "survived": [0, 1, 1, 0, 1] * (n // 5),
    })
    return infer_spec("Predict whether a passenger survived.", frame)


def _candidate(slot: str, name: str, status: str = PASSED, **kw: Any) -> Candidate:
    return Candidate(slot, name, f"def build_{slot}(trial): ...", description=f"{name} block",
                     status=status, test_seconds=0.3 if status == PASSED else None, **kw)


def _trial(number: int, choices: dict[str, str], value: float | None = None,
           state: TrialState = TrialState.COMPLETE, **params: float) -> Any:
    all_params = {**choices, **params}
    frozen = optuna.trial.create_trial(
        params=all_params, distributions={k: DISTRIBUTIONS[k] for k in all_params},
        value=value, state=state)
    frozen.number = number  # as a study numbers them
    return frozen


def _trial_event(number: int, choices: dict[str, str], value: float | None, best: float | None,
                 best_params: dict[str, Any] | None, elapsed: float, state: str = "complete",
                 replayed: bool = False, **params: float) -> Event:
    frozen = _trial(number, choices, value,
                    {"complete": TrialState.COMPLETE, "pruned": TrialState.PRUNED,
                     "fail": TrialState.FAIL}[state], **params)
    return Event("trial", f"trial {number}", {
        "trial": frozen, "number": number, "state": state, "value": value, "best": best,
        "best_params": best_params, "choices": dict(choices), "elapsed": elapsed,
        "budget": 60.0, "replayed": replayed})


HGB = {"preprocess": "one_hot", "features": "passthrough", "model": "hgb", "postprocess": "none"}
LOGISTIC = {**HGB, "model": "logistic", "preprocess": "ordinal"}


def _events_until_search(spec) -> list[Event]:
    """understand -> spec -> four generate stages with candidates -> search."""
    evaluation = Evaluation(n_splits=5, stratified=True)
    events = [Event("stage", "", {"stage": "understand", "elapsed": 0.0, "budget": 60.0}),
              Event("spec", spec.summary(), {"spec": spec, "evaluation": evaluation})]
    names = {"preprocess": ["one_hot", "ordinal"], "features": ["passthrough"],
             "model": ["hgb", "logistic", "broken"], "postprocess": ["none"]}
    t = 0.5
    for slot, slot_names in names.items():
        events.append(Event("stage", "", {"stage": f"generate:{slot}", "elapsed": t,
                                          "budget": 60.0}))
        for name in slot_names:
            candidate = _candidate(slot, name, PENDING)
            events.append(Event("candidate", "", {"candidate": candidate}))
            # the engine re-sends the same object: each event must be a snapshot
            later = _candidate(slot, name, FAILED if name == "broken" else PASSED,
                               reason=REASON if name == "broken" else None)
            events.append(Event("candidate", "", {"candidate": later}))
        t += 0.5
    events.append(Event("stage", "", {"stage": "search", "elapsed": t, "budget": 60.0}))
    return events


def _search_events() -> list[Event]:
    best1 = {**HGB, "model.hgb.learning_rate": 0.1}
    best2 = {**LOGISTIC, "model.logistic.C": 1.5}
    return [
        _trial_event(0, HGB, 0.70, 0.70, best1, 4.0, **{"model.hgb.learning_rate": 0.1}),
        _trial_event(1, LOGISTIC, None, 0.70, best1, 6.0, state="pruned",
                     **{"model.logistic.C": 10.0}),
        _trial_event(2, LOGISTIC, 0.80, 0.80, best2, 9.0, **{"model.logistic.C": 1.5}),
        _trial_event(3, HGB, 0.75, 0.80, best2, 12.0, **{"model.hgb.learning_rate": 0.2}),
        _trial_event(4, {**HGB, "model": "broken"}, None, 0.80, best2, 13.0, state="fail"),
    ]


def _result(spec, *, best_score: float = 0.80, notes: list[str] | None = None) -> Result:
    candidates = [_candidate("preprocess", "one_hot"), _candidate("preprocess", "ordinal"),
                  _candidate("features", "passthrough"), _candidate("model", "hgb"),
                  _candidate("model", "logistic"),
                  _candidate("model", "broken", FAILED, reason=REASON),
                  _candidate("postprocess", "none")]
    return Result(pipeline=None, spec=spec, best_score=best_score, metric=spec.metric,
                  study=None, candidates=candidates, code=CODE, cells=[], data_name="df",
                  pipeline_name="pipeline", run_id="20250101-abc", run_dir=Path("."),
                  evaluation=Evaluation(n_splits=5, stratified=True), chosen=dict(LOGISTIC),
                  best_params={**LOGISTIC, "model.logistic.C": 1.5}, elapsed=58.2,
                  n_trials=8, notes=notes or ["Stopped before the end of the budget."])


def _feed(progress: RunProgress, events: list[Event]) -> RunProgress:
    for event in events:
        progress.apply(event)
    return progress


@pytest.fixture
def searched(spec) -> RunProgress:
    return _feed(RunProgress(clock=lambda: 0.0), _events_until_search(spec) + _search_events())


# ---------------------------------------------------------------- RunProgress

def test_progress_follows_stages_and_candidate_snapshots(spec):
    progress = RunProgress(clock=lambda: 0.0)
    events = _events_until_search(spec)
    _feed(progress, events[:3])  # understand, spec, generate:preprocess
    assert progress.stage == "generate:preprocess"
    assert progress.generating == "preprocess"
    assert "preprocess: generating…" in render_text(progress)
    assert progress.spec is spec and progress.evaluation.n_splits == 5
    assert progress.budget == 60.0

    candidate = _candidate("preprocess", "one_hot", PENDING)
    progress.apply(Event("candidate", "", {"candidate": candidate}))
    assert progress.generating is None  # its candidates arrived
    candidate.status = TESTING  # the engine mutates, then re-sends: no event yet, no change
    assert progress.rows("preprocess")[0].status == PENDING
    progress.apply(Event("candidate", "", {"candidate": candidate}))
    assert progress.rows("preprocess")[0].status == TESTING

    _feed(progress, events[3:])
    assert [r.name for r in progress.rows("model")] == ["hgb", "logistic", "broken"]
    broken = progress.rows("model")[2]
    assert (broken.status, broken.reason) == (FAILED, REASON)
    assert progress.stage == "search" and progress.generating is None


def test_trials_give_counts_best_curve_and_wins(searched):
    p = searched
    assert (p.n_complete, p.n_pruned, p.n_failed, p.n_trials) == (3, 1, 1, 5)
    assert p.best == 0.80
    assert p.curve == [(4.0, 0.70), (9.0, 0.80)]
    assert p.best_choices == LOGISTIC
    assert p.best_hyperparams == {"model.logistic.C": 1.5}
    models = {r.name: (r.trials, r.wins) for r in p.rows("model")}
    assert models == {"hgb": (2, 1), "logistic": (2, 1), "broken": (1, 0)}
    preprocess = {r.name: (r.trials, r.wins) for r in p.rows("preprocess")}
    assert preprocess == {"one_hot": (3, 1), "ordinal": (2, 1)}
    assert p.rows("features")[0].trials == 5 and p.rows("features")[0].wins == 2
    assert p.elapsed == 13.0


def test_a_late_event_with_an_older_best_does_not_go_backwards(spec):
    # Two threads: trial 1 (0.9) is reported before trial 0 (0.8), whose event still
    # carries the best it read (0.8).
    p = _feed(RunProgress(), _events_until_search(spec))
    p.apply(_trial_event(1, LOGISTIC, 0.9, 0.9, LOGISTIC, 5.0))
    p.apply(_trial_event(0, HGB, 0.8, 0.8, HGB, 4.0))
    assert p.best == 0.9 and p.curve == [(5.0, 0.9)]
    assert p.best_choices == LOGISTIC
    assert {r.name: r.wins for r in p.rows("model")}["hgb"] == 0


def test_minimize_direction_counts_lower_as_better(spec):
    spec.direction = "minimize"
    p = _feed(RunProgress(), _events_until_search(spec))
    p.apply(_trial_event(0, HGB, 3.0, 3.0, HGB, 1.0))
    p.apply(_trial_event(1, LOGISTIC, 5.0, 3.0, HGB, 2.0))
    p.apply(_trial_event(2, LOGISTIC, 2.0, 2.0, LOGISTIC, 3.0))
    assert p.best == 2.0 and [v for _, v in p.curve] == [3.0, 2.0]


def test_replayed_trials_are_counted_once_and_plotted_at_zero(spec):
    p = _feed(RunProgress(), _events_until_search(spec))
    replayed = _trial_event(0, HGB, 0.7, 0.7, HGB, 99.0, replayed=True)
    p.apply(replayed)
    p.apply(replayed)  # the same trial re-sent must not count twice
    p.apply(_trial_event(1, HGB, 0.6, 0.7, HGB, 0.2, state="complete"))
    assert (p.n_complete, p.n_replayed) == (2, 1)
    assert p.curve == [(0.0, 0.7)]
    svg = curve_svg(p)
    assert 'cx="52.0"' in svg  # the x of 0 s, the plot's left edge


def test_engine_events_without_the_new_fields_still_work(spec):
    """Only ``trial``, ``best`` and ``elapsed`` (what the engine sent before the contract)."""
    p = RunProgress()
    p.apply(Event("stage", "Understanding the task", {"stage": "understand"}))
    p.apply(Event("trial", "", {"trial": _trial(0, HGB, 0.7, **{"model.hgb.learning_rate": 0.1}),
                                "best": 0.7, "elapsed": 3.0}))
    p.apply(Event("trial", "", {"trial": _trial(1, HGB, None, TrialState.PRUNED),
                                "best": 0.7, "elapsed": 4.0}))
    assert (p.n_complete, p.n_pruned, p.best) == (1, 1, 0.7)
    assert p.best_choices == HGB
    assert p.best_hyperparams == {"model.hgb.learning_rate": 0.1}
    assert p.rows("model")[0].trials == 2 and p.rows("model")[0].wins == 1
    # nothing here may raise: partial, empty and unknown events
    for event in (Event("trial"), Event("candidate", "", {"candidate": None}), Event("spec"),
                  Event("mystery", "?", {"x": 1}), Event("done"), Event("stage", "", {
                      "stage": None, "elapsed": "soon", "budget": float("nan")})):
        p.apply(event)
    assert p.n_trials == 2 and p.budget is None and not p.done
    assert "Optimization" in render_text(p) and "Task" in render_html(p)


def test_a_trial_that_failed_before_choosing_every_slot(spec):
    p = _feed(RunProgress(), _events_until_search(spec))
    event = _trial_event(0, {"preprocess": "one_hot"}, None, None, None, 2.0, state="fail")
    event.data["choices"] = {"preprocess": "one_hot", "features": None, "model": None,
                             "postprocess": None}  # what the engine sends for unchosen slots
    p.apply(event)
    assert p.n_failed == 1 and p.best is None and p.curve == []
    assert [r.name for r in p.rows("model")] == ["hgb", "logistic", "broken"]  # no "None"
    assert p.rows("preprocess")[0].trials == 1


def test_a_result_alone_fills_in_the_trials_from_its_study(spec):
    """``%text2ml show`` rebuilds the summary from the result: no trial events."""
    study = optuna.create_study(direction="maximize")
    for number, (choices, value, state) in enumerate([
            (HGB, 0.7, TrialState.COMPLETE), (LOGISTIC, None, TrialState.PRUNED),
            (LOGISTIC, 0.8, TrialState.COMPLETE), (HGB, 0.75, TrialState.COMPLETE)]):
        trial = _trial(number, choices, value, state)
        trial.user_attrs["finished"] = 2.0 * (number + 1)
        study.add_trial(trial)
    study.enqueue_trial(dict(HGB))  # waiting, never ran: not a trial of the run
    result = _result(spec)
    result.study = study
    p = RunProgress()
    p.apply(Event("done", "", {"result": result}))
    assert (p.n_complete, p.n_pruned, p.n_failed) == (3, 1, 0)
    assert p.best == 0.8 and p.curve == [(2.0, 0.7), (6.0, 0.8)]
    assert {r.name: (r.trials, r.wins) for r in p.rows("model")} == {
        "hgb": (2, 1), "logistic": (2, 1), "broken": (0, 0)}
    assert p.best_choices == LOGISTIC
    assert "Time: 58 s, 4 trials" in render_text(p)


def test_elapsed_moves_with_the_clock_until_done(searched, spec):
    now = [100.0]
    p = _feed(RunProgress(clock=lambda: now[0]), _events_until_search(spec) + _search_events())
    assert p.current_elapsed() == 13.0
    now[0] += 5.0
    assert p.current_elapsed() == 18.0
    now[0] += 500.0
    assert p.current_elapsed() == 60.0  # never past the budget
    p.apply(Event("done", "", {"result": _result(spec)}))
    assert p.current_elapsed() == 58.2


def test_done_sets_the_selection_and_keeps_the_search_best(searched, spec):
    result = _result(spec, best_score=0.78)  # the refit fell back to another trial
    searched.apply(Event("done", result.summary(), {"result": result}))
    assert searched.done and searched.result is result and searched.stage == "done"
    assert searched.selected == LOGISTIC
    assert searched.best == 0.80  # what the search found; the final section says 0.7800
    text = render_text(searched)
    assert "Result\n  accuracy: 0.7800 (5-fold cross-validation (seed 0))" in text
    assert "Time: 58 s of 60 s, 5 trials" in text  # the trials run, not Result.n_trials
    assert "   * logistic" in text and "   * ordinal" in text
    assert RESUME_HINT in text and "Note: Stopped before the end of the budget." in text


# ---------------------------------------------------------------- rendering

def test_html_escapes_every_user_string(searched, spec):
    searched.apply(Event("done", "", {"result": _result(spec, notes=[f"note {EVIL}"])}))
    page = render_html(searched)
    assert "<script" not in page and "<img" not in page and "<b>not bold" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # the column name, as text
    assert "&lt;img src=x onerror=alert(2)&gt;" in page  # the failure reason, as text
    # the program, folded and escaped, in full
    details = re.search(r"<details.*?<summary[^>]*>(.*?)</summary><pre[^>]*>(.*?)</pre>"
                        r"</details>", page, re.S)
    assert details is not None
    assert details.group(1) == "Program (5 lines)"
    assert details.group(2) == ('import pandas as pd\n\nprint(&quot;&lt;/pre&gt;&lt;b&gt;not '
                                'bold&lt;/b&gt;&quot;)\npipeline.fit(X, y)\n')


def test_html_shows_each_section(searched, spec):
    page = render_html(searched)
    assert "Target:</b> survived (binary, 2 classes)" in page
    assert "5-fold cross-validation (seed 0)" in page
    assert "(identifier)" in page  # passenger_id, excluded with its reason role
    assert "Trials: 3 complete, 1 pruned, 1 failed" in page
    assert "Best accuracy: <b>0.8000</b>" in page
    assert page.count("<svg") == 1 and page.count("<circle") == 2
    assert "<details" not in page and "Result" not in page  # not done yet
    assert "<b>logistic</b>" in page and "C=1.5" in page
    assert "<script" not in page and "javascript:" not in page


def test_an_ensemble_result_lists_its_members(searched, spec):
    result = _result(spec)
    result.members = [{"trial": 7, "weight": 2, "score": 0.81, "params": {"model": "logistic"}},
                      {"trial": 3, "weight": 1, "score": 0.79, "params": {"model": "hgb"}}]
    searched.apply(Event("done", "", {"result": result}))
    line = ("An ensemble of 2 pipelines, their predictions averaged (the modules above are "
            "its best member's): trial 7 logistic (weight 2), trial 3 hgb (weight 1)")
    assert f"\n  {line}\n" in render_text(searched)
    assert f"<div>{line.replace(chr(39), '&#x27;')}</div>" in render_html(searched)
    searched.apply(Event("done", "", {"result": _result(spec)}))  # a single pipeline
    assert "An ensemble" not in render_text(searched) + render_html(searched)


def test_a_failed_candidate_shows_its_reason(searched):
    text = render_text(searched)
    assert re.search(r"\n     broken +trials +1 +wins +0 +failed: " + re.escape(REASON), text)
    assert "failed: ValueError: Input X contains NaN &lt;img" in render_html(searched)


def test_nan_score_reads_not_available(spec):
    p = _feed(RunProgress(), _events_until_search(spec))
    p.apply(Event("done", "", {"result": _result(spec, best_score=math.nan, notes=[
        "No trial finished within the budget: this is the default pipeline, not validated."])}))
    text, page = render_text(p), render_html(p)
    assert p.best is None and p.curve == []
    assert "accuracy: n/a" in text and "Best accuracy: n/a" in text
    assert not re.search(r"\bnan\b", text.replace(REASON, ""), re.I)
    assert "nan</b>" not in page.lower()
    assert "No trial finished" in page and curve_svg(p) == ""


def test_render_text_is_plain_text_with_the_code_last(searched, spec):
    searched.apply(Event("done", "", {"result": _result(spec)}))
    spec.columns = {c if c != EVIL else "city": r for c, r in spec.columns.items()}
    text = render_text(searched)
    # (user data such as a failure reason is shown as it is: it is text here)
    assert not re.search(r"</?[a-zA-Z][^>]*>", text.replace(CODE, "").replace(REASON, ""))
    assert "&lt;" not in text and "&amp;" not in text and "&quot;" not in text
    assert text.rstrip("\n").endswith("Program\n" + CODE.rstrip("\n"))
    assert "Categorical (1): city" in text
    assert "Excluded: passenger_id (identifier)" in text


# ---------------------------------------------------------------- widget

def test_dashboard_updates_only_what_changed(spec):
    progress = RunProgress(clock=lambda: 0.0)
    board = Dashboard(progress, on_stop=lambda: None)
    assert "Understanding the task" in board._task.value
    assert board._final.value == ""
    _feed(progress, _events_until_search(spec) + _search_events())
    board.update()
    assert "Best accuracy: <b>0.8000</b>" in board._search.value
    assert "<progress" not in board._search.value  # the widget draws its own bar
    assert board._time.value == pytest.approx(13.0 / 60.0, abs=0.01)
    assert board._time_label.value == "13 s of 60 s"
    assert "failed: ValueError" in board._candidates.value
    assert "Searching (5-fold cross-validation (seed 0))" in board._headline.value

    changes: list[Any] = []
    for widget in (board._headline, board._task, board._candidates, board._search,
                   board._final, board._time, board._time_label):
        widget.observe(lambda change: changes.append(change["owner"]), names="value")
    board.update()
    assert changes == []  # nothing new: nothing sent
    progress.apply(_trial_event(5, HGB, 0.9, 0.9, HGB, 14.0))
    board.update()
    # trial counts (candidates), best (search), 13 -> 14 s (label and bar); the rest stays
    assert set(changes) == {board._candidates, board._search, board._time_label, board._time}
    assert len(changes) == 4
    assert board._time_label.value == "14 s of 60 s"


def test_stop_button_stops_once_then_the_end_hides_it(searched, spec):
    calls: list[int] = []
    board = Dashboard(searched, on_stop=lambda: calls.append(1))
    assert not board._stop.disabled and board._stop.description == "Stop"
    board._stop.click()
    board._stop.click()  # a double click stops once
    assert calls == [1] and searched.stopped
    assert board._stop.disabled and board._stop.description == STOPPING
    assert "Stopping… (keeping the best so far)" in board._headline.value

    searched.apply(Event("done", "", {"result": _result(spec)}))
    board.update()
    assert board._stop.disabled and board._stop.layout.display == "none"
    assert board._time.bar_style == "warning"  # stopped early
    assert "accuracy: <b>0.8000</b>" in board._final.value
    assert RESUME_HINT in board._final.value and "<details" in board._final.value
    board._stop.click()
    assert calls == [1]


def test_a_stop_from_elsewhere_disables_the_button(searched):
    calls: list[int] = []
    board = Dashboard(searched, on_stop=lambda: calls.append(1))
    searched.mark_stopping()  # Ctrl-C: the caller marks the progress and refreshes
    board.update()
    assert board._stop.disabled and board._stop.description == STOPPING
    board._stop.click()  # the run is already stopping: nothing more to ask
    assert calls == [] and searched.stopped


def test_static_bundle_is_the_summary(searched, spec):
    searched.apply(Event("done", "", {"result": _result(spec)}))
    board = Dashboard(searched, on_stop=lambda: None)
    bundle = board.static_bundle()
    assert set(bundle) == {"text/plain", "text/html"}
    assert bundle["text/plain"] == render_text(searched)
    assert bundle["text/html"] == render_html(searched)
    assert bundle["text/html"].startswith('<div class="text2ml-summary"')
    assert board._time.bar_style == "success"


def test_the_engine_and_summary_do_not_import_ipywidgets():
    import subprocess
    import sys

    code = ("import sys, text2ml_jupyter.notebook._summary, text2ml_jupyter.engine; "
            "print('ipywidgets' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------- a real run

@pytest.mark.slow
def test_a_real_run_builds_a_consistent_progress(titanic_df, tmp_path):
    events: list[Event] = []
    result = text2ml_jupyter.run("Predict whether a passenger survived.", titanic_df,
                                 time_budget=10, on_event=events.append, run_dir=tmp_path)
    progress = RunProgress()
    board = Dashboard(progress, on_stop=lambda: None)
    for event in events:
        progress.apply(event)
        board.update()

    # (enqueued default trials that never ran stay WAITING in the study: not trials run)
    trials = [t for t in result.study.trials if t.state.is_finished()]
    states = Counter(t.state for t in trials)
    assert progress.n_complete == states[TrialState.COMPLETE]
    assert progress.n_pruned == states[TrialState.PRUNED]
    assert progress.n_failed == states[TrialState.FAIL]
    assert progress.n_trials == len(trials)
    assert progress.selected == result.chosen
    text = render_text(progress)
    assert f", {len(trials)} trial{'' if len(trials) == 1 else 's'}\n" in text
    assert text.rstrip("\n").endswith(result.code.rstrip("\n"))
    assert board._stop.layout.display == "none"
    assert "<details" in board._final.value
    assert progress.stage == "done" and progress.result is result
    for candidate in result.candidates:
        row = progress.candidates[candidate.slot][candidate.name]
        assert (row.status, row.reason) == (candidate.status, candidate.reason)
    for slot in ("preprocess", "features", "model", "postprocess"):
        chosen = Counter(t.params[slot] for t in trials if slot in t.params)
        assert {r.name: r.trials for r in progress.rows(slot) if r.trials} == dict(chosen)
    if not states[TrialState.COMPLETE]:  # a busy machine: no trial finished in 10 s
        assert progress.best is None and progress.curve == []
        assert math.isnan(result.best_score) and "accuracy: n/a" in text
        return
    assert progress.best == pytest.approx(result.study.best_value)
    assert progress.curve[-1][1] == pytest.approx(result.study.best_value)
    bests = [b for _, b in progress.curve]
    assert bests == sorted(bests)  # accuracy: the best only goes up
    assert f"accuracy: {result.best_score:.4f}" in text
    # the trial that set the best (one of them, on a tie) credited each of its candidates
    assert any(all(progress.candidates[slot][name].wins >= 1
                   for slot, name in t.params.items() if slot in result.chosen)
               for t in trials if t.value == result.study.best_value)
