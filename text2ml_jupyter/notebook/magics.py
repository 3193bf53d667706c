"""The IPython magics: ``%%text2ml`` runs a task, ``%text2ml`` resumes, shows, exports.

Thin by design: options are parsed in ``_magic_args``, the data is found by
``_data_lookup``, the work is ``engine.run`` / ``resuming.resume`` on a thread
(``_live``), driven blocking or in the kernel's loop (``_flow``), progress is the
``dashboard``, what resume needs of the last run is in ``_last_run``, and cells go back
through the JupyterLab extension (``_frontend``) or ``set_next_input``. Settings are traitlets:
``%config Text2ML.budget = 120``, or ``c.Text2ML.budget = 120`` in ipython_config.py.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from traitlets import Bool, Float, Integer, Unicode, observe

from ..errors import Text2MLError
from . import _magic_args as margs
from ._data_lookup import find_data
from ._flow import AsyncCellTransformer, drive_async, drive_sync
from ._frontend import FrontendLink
from ._last_run import LastRun, last_on_disk, load_cells, remember_in, with_extra

_HELLO_WAIT = 2.0  # seconds to wait for the extension's hello before falling back
_INSERT_WAIT = 10.0  # seconds to wait for the extension to confirm an insert


@magics_class
class Text2ML(Magics):
    """``%%text2ml``: a plain-English ML task in, an optimized pipeline and its cells out."""

    budget = Float(60.0, help="Seconds per run: understanding, generation, tests, search, "
                   "refit (--budget).").tag(config=True)
    candidates = Integer(4, help="Candidates per module (--candidates).").tag(config=True)
    provider = Unicode("auto", help="Who writes the candidates: 'offline' (built-in "
                       "catalog), 'openai' (an OpenAI-compatible LLM, with the catalog), "
                       "'auto' (openai when a key or base URL is set) (--provider)."
                       ).tag(config=True)
    model = Unicode("", help="The LLM's model name (--model; default $OPENAI_MODEL or "
                    "gpt-4o-mini).").tag(config=True)
    base_url = Unicode("", help="An OpenAI-compatible endpoint, e.g. "
                       "http://localhost:11434/v1 (default $OPENAI_BASE_URL).").tag(config=True)
    api_key_env = Unicode("OPENAI_API_KEY", help="The environment variable holding the "
                          "API key (the key itself is never stored).").tag(config=True)
    temperature = Float(0.2, help="The LLM's sampling temperature.").tag(config=True)
    timeout = Float(60.0, help="Seconds per LLM request (retried with backoff)."
                    ).tag(config=True)
    cache = Bool(True, help="Reuse cached LLM answers for identical requests (--no-cache "
                 "for one run).").tag(config=True)
    send_examples = Bool(True, help="Let prompts carry a few example values per column; "
                         "False sends schema and statistics only.").tag(config=True)
    catalog = Bool(True, help="Let the offline catalog's candidates compete with the "
                   "LLM's.").tag(config=True)
    seed = Integer(0, help="Random seed of the search and validation (--seed)."
                   ).tag(config=True)
    name = Unicode("pipeline", help="Kernel variable that receives the fitted pipeline "
                   "(--name).").tag(config=True)
    insert = Bool(True, help="Write the result back as notebook cells (--no-insert "
                  "turns it off for one run).").tag(config=True)
    run_dir = Unicode(".text2ml", help="Folder of the run folders (studies, candidates, "
                      "programs).").tag(config=True)
    n_workers = Integer(0, help="Worker processes (0: one per core, at most 8)."
                        ).tag(config=True)
    memory_limit_mb = Integer(0, help="Memory limit per worker in MiB (0: a fair share "
                              "of the machine).").tag(config=True)
    storage = Unicode("", help="An Optuna storage URL that `text2ml worker` processes "
                      "can reach, e.g. postgresql://user@host/db (--storage; '': a journal "
                      "file in the run folder). Shown with its password masked."
                      ).tag(config=True)

    warm_workers = Bool(True, help="Start the warm worker process (which has imported "
                        "pandas and scikit-learn) as the extension loads, so the first run "
                        "has workers 1-3 s sooner. It holds about 100 MB while idle; False "
                        "stops it.").tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self.link = FrontendLink()
        self.last: LastRun | None = None
        self.cell_id: str | None = None  # id of the executing cell (JupyterLab sends it)
        self._data_of: dict[str, str] = {}  # anchor -> the data variable its last run used

    @observe("warm_workers")
    def _warm_workers_changed(self, change: Any) -> None:
        from .. import _forkserver

        if change["new"]:
            _forkserver.prestart()
        else:
            _forkserver.shutdown()

    # ------------------------------------------------------------------ entry points
    @cell_magic("text2ml")
    def text2ml_cell(self, line: str, cell: str) -> Any:
        """Run a task (synchronous path: terminal IPython or autoawait off)."""
        return drive_sync(self._run_cell(line, cell))

    @line_magic("text2ml")
    def text2ml_line(self, line: str) -> Any:
        """%text2ml resume | show | export PATH | help (synchronous path)."""
        return drive_sync(self._run_line(line))

    async def cell_async(self, line: str, cell: str) -> Any:
        """Run a task as an async cell, so Stop and the extension's replies arrive live."""
        return await drive_async(self._run_cell(self._expand(line), cell))

    async def line_async(self, line: str) -> Any:
        return await drive_async(self._run_line(self._expand(line)))

    def _expand(self, line: str) -> str:
        """``$name`` and ``{expression}`` in the options, as IPython expands them for a
        magic called the usual way (``--storage $url``: the password stays out of the
        notebook); the async path skips ``run_cell_magic``, which would do it."""
        from IPython.utils.text import DollarFormatter

        try:
            return DollarFormatter().vformat(line, args=[], kwargs=dict(self.shell.user_ns))
        except Exception:  # noqa: BLE001 - as IPython does: left as it is
            return line

    # ------------------------------------------------------------------ the flows
    def _run_cell(self, line: str, cell: str) -> Generator[Any, Any, Any]:
        anchor = self.cell_id or ""
        try:
            args = margs.parse_cell_line(line)
            task = (cell or "").strip()
            if not task:
                raise Text2MLError("The %%text2ml cell has no task.",
                                   "Write the task below the first line, e.g. "
                                   "'Predict whether a passenger survived.'")
            # Running the same cell again uses the same data, even though the generated
            # cells it ran meanwhile define DataFrames of their own (X, data, new_rows).
            remembered = self._data_of.get(anchor) if anchor else None
            if not args.data and remembered in self.shell.user_ns:
                found = find_data(self.shell.user_ns, remembered, task)
            else:
                found = find_data(self.shell.user_ns, args.data, task)
            provider = margs.merged(args.provider, self.provider)
            from ..providers import get_provider

            # Built here so a missing key or endpoint is reported before anything runs.
            writer = get_provider(provider, **self._provider_options(args))
            if args.model and provider == "offline":
                print("text2ml: --model names an LLM; the offline provider does not use one.")
            options = dict(
                time_budget=margs.merged(args.budget, self.budget),
                target=args.target, metric=args.metric,
                seed=margs.merged(args.seed, self.seed),
                candidates=margs.merged(args.candidates, self.candidates),
                provider=writer, roles=args.roles or None,
                data_name=found.name, pipeline_name=margs.merged(args.name, self.name),
                run_dir=self.run_dir, n_workers=self.n_workers or None,
                memory_limit_mb=self.memory_limit_mb or None,
                storage=margs.merged(args.storage, self.storage) or None,
                study_name=args.study)
            _check_name(options["pipeline_name"])
        except Text2MLError as exc:
            raise UsageError(str(exc)) from None
        from .._runfolder import on_create
        from ..engine import run

        def work(on_event: Any, stop: Any) -> Any:
            # notebook.json goes into the run folder as soon as it exists: a kernel that
            # restarts mid-run can then still find and resume the run.
            with on_create(lambda folder: remember_in(folder.path, found, anchor,
                                                       options["pipeline_name"])):
                return run(task, found.data, on_event=on_event, stop=stop, **options)

        result, view = yield from self._live(work, options["time_budget"])
        extra = load_cells(found)
        if anchor:
            self._data_of[anchor] = found.path or found.name
        self.last = LastRun(result, found, anchor, view.progress, extra)
        remember_in(Path(result.run_dir), found, anchor, result.pipeline_name)
        _bind_pipeline(self.shell.user_ns, result)
        insert = margs.merged(args.insert, self.insert)
        message = yield from self._write_back(result, anchor, extra, insert=insert)
        # With --no-insert the output carries no cells: headless runners insert none either.
        view.finish(result, with_extra(result.cells, extra) if insert else None,
                    anchor=anchor, message=message)
        return result

    def _run_line(self, line: str) -> Generator[Any, Any, Any]:
        try:
            command, args = margs.parse_line(line)
        except Text2MLError as exc:
            raise UsageError(str(exc)) from None
        if command == "help":
            _show_text(self.help_text())
            return None
        if command == "resume":
            result = yield from self._resume(args)
            return result
        # After a restart the run on disk is checked first: a damaged one is named.
        last = self._require_last(on_disk=True)
        if last.result is None:
            raise UsageError("The last run is on disk only (the kernel restarted).\n"
                             "How to fix: %text2ml resume first, or run its %%text2ml cell.")
        if command == "show":
            from .display import RunView

            RunView.show_final(last.progress, result=last.result, anchor=last.anchor)
            return None
        return self._export(last, args.path)

    def _resume(self, args: Any) -> Generator[Any, Any, Any]:
        last = self._require_last(on_disk=True)
        try:
            found = find_data(self.shell.user_ns, last.found.path or last.found.name, "")
        except Text2MLError as exc:
            raise UsageError(f"{exc}\nResume needs the run's data ({last.found.origin}) "
                             "in the kernel again.") from None
        budget = margs.merged(args.budget, self.budget)
        from ..resuming import resume

        previous = last.result if last.result is not None else last.found.run_folder

        def work(on_event: Any, stop: Any) -> Any:
            return resume(previous, found.data, time_budget=budget, on_event=on_event,
                          stop=stop, n_workers=self.n_workers or None,
                          memory_limit_mb=self.memory_limit_mb or None)

        result, view = yield from self._live(work, budget)
        changed = last.result is None or result.best_params != last.result.best_params \
            or getattr(result, "members", []) != getattr(last.result, "members", [])
        self.last = LastRun(result, found, last.anchor, view.progress, last.extra_cells)
        _bind_pipeline(self.shell.user_ns, result)
        insert = margs.merged(args.insert, self.insert)
        if not changed:
            message = ("The best pipeline did not change; its cells were left as they are.")
        else:
            message = yield from self._write_back(result, last.anchor, last.extra_cells,
                                                  insert=insert)
        view.finish(result, with_extra(result.cells, last.extra_cells) if insert else None,
                    anchor=last.anchor, message=message)
        return result

    def _live(self, work: Any, budget: float) -> Generator[Any, Any, Any]:
        """Show the dashboard and run ``work`` on a thread; errors become one clear line."""
        from ._live import LiveRun
        from .display import RunView

        self.link.open()
        view = RunView.start(budget)
        live = LiveRun(work, on_events=view.apply, on_interrupt=view.stopping)
        view.on_stop = live.request_stop
        try:
            result = yield ("run", live)
        except Text2MLError as exc:
            view.fail(str(exc))
            raise UsageError(str(exc)) from None
        except Exception:
            view.fail("The run failed unexpectedly; the traceback follows.")
            raise
        finally:
            if self.warm_workers:  # a run on large data stops the server for its refit
                from .. import _forkserver

                _forkserver.prestart()
        return result, view

    def _write_back(self, result: Any, anchor: str, extra: list[Any], *,
                    insert: bool) -> Generator[Any, Any, str]:
        """Send the cells to the extension, or fall back to one cell via set_next_input."""
        from . import writeback

        if not insert:
            return "Cells not inserted (--no-insert); the code is in the summary above."
        cells = with_extra(result.cells, extra)
        payloads = writeback.cell_payloads(cells, run_id=result.run_id, anchor=anchor)
        if anchor and (self.link.active or (yield ("wait", lambda: self.link.active,
                                                   _HELLO_WAIT))):
            request = self.link.send_insert(anchor=anchor, exec_cell=self.cell_id,
                                            cells=payloads)
            confirmed = yield ("wait", lambda: self.link.reply(request) is not None,
                               _INSERT_WAIT)
            reply = self.link.reply(request) if confirmed else None
            if reply is None:
                return "Sent the cells to JupyterLab (no confirmation yet)."
            if reply.get("error"):
                return f"JupyterLab could not insert the cells: {reply['error']}"
            return writeback.describe(writeback.Applied(
                int(reply.get("inserted", 0)), int(reply.get("removed", 0)),
                int(reply.get("kept", 0))))
        self.shell.set_next_input(writeback.combined_source(cells, run_id=result.run_id),
                                  replace=False)
        return ("The code is in the summary above. No text2ml JupyterLab extension answered, "
                "so front ends that support it (classic Notebook, VS Code) get it as one "
                "new cell below.")

    def _provider_options(self, args: Any) -> dict[str, Any]:
        options: dict[str, Any] = {
            "api_key_env": self.api_key_env, "temperature": self.temperature,
            "timeout": self.timeout, "send_examples": self.send_examples,
            "catalog": self.catalog,
            "cache_dir": str(Path(self.run_dir) / "llm-cache")
            if margs.merged(args.cache, self.cache) else None}
        model = margs.merged(args.model, self.model)
        if model:
            options["model"] = model
        if self.base_url:
            options["base_url"] = self.base_url
        return options

    # ------------------------------------------------------------------ subcommands
    def _require_last(self, *, on_disk: bool = False) -> LastRun:
        """The last run: this kernel's, else (``on_disk``, after a restart) the newest run
        folder a notebook started, checked so that damage is reported here, plainly."""
        if self.last is None and on_disk:
            try:
                self.last = last_on_disk(Path(self.run_dir))
            except Text2MLError as exc:
                raise UsageError(str(exc)) from None
        if self.last is None:
            raise UsageError("There is no text2ml run in this kernel yet.\n"
                             "How to fix: run a %%text2ml cell first.")
        return self.last

    def _export(self, last: LastRun, path_text: str) -> None:
        """Write the program (.py) or its cells (.ipynb, validated), atomically."""
        import nbformat

        from .._runfolder import plain_mode, write_atomic
        from ..program import cells_to_notebook, write_notebook
        from .writeback import cell_payloads

        path = Path(path_text).expanduser()
        if path.suffix.lower() not in (".py", ".ipynb"):
            raise UsageError(f"Cannot export to {path_text!r}: use a .py or .ipynb path.")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            result = last.result
            if path.suffix.lower() == ".ipynb":
                cells = with_extra(result.cells, last.extra_cells)
                nb = cells_to_notebook(cells, run_id=result.run_id)
                for nb_cell, payload in zip(nb.cells, cell_payloads(
                        cells, run_id=result.run_id, anchor=last.anchor), strict=True):
                    nb_cell.metadata = payload["metadata"]
                write_notebook(nb, path)
            else:
                text = result.program.to_python(last.found.path) if last.found.path else (
                    f"# {result.data_name}: your DataFrame; load it before this program.\n"
                    + result.program.to_python())
                write_atomic(path, text, mode=plain_mode(path))
        except OSError as exc:
            raise UsageError(f"Cannot write {path_text!r}: {exc.strerror or exc}.") from None
        except nbformat.ValidationError as exc:  # checked before anything is written
            raise UsageError(f"Cannot write {path_text!r}: the notebook would not be valid "
                             f"({str(exc).splitlines()[0]}); nothing was written.") from None
        _show_text(f"Wrote {path} (run {last.result.run_id}).")

    def help_text(self) -> str:
        lines = ["text2ml: a plain-English ML task -> an optimized, readable pipeline.", "",
                 margs.CELL_USAGE, "", margs.LINE_USAGE, "",
                 "Settings (%config Text2ML.<name> = value, or c.Text2ML.<name> in "
                 "ipython_config.py):"]
        for name, trait in sorted(self.traits(config=True).items()):
            lines.append(f"  Text2ML.{name} = {_shown(name, getattr(self, name))!r}")
            lines.append(f"      {trait.help}")
        return "\n".join(lines)


    @classmethod
    def class_get_trait_help(cls, trait: Any, inst: Any = None, helptext: Any = None) -> str:
        """``%config Text2ML`` lists current values: the storage's password is masked."""
        text = super().class_get_trait_help(trait, inst, helptext)
        if inst is not None and trait.name == "storage" and inst.storage:
            text = text.replace(repr(inst.storage), repr(_shown("storage", inst.storage)))
        return text


# ---------------------------------------------------------------------- helpers
def _check_name(name: str) -> None:
    import keyword

    if not name.isidentifier() or keyword.iskeyword(name):
        raise Text2MLError(f"--name {name!r} is not a valid Python variable name.",
                           "Use a name such as --name model.")


def _shown(name: str, value: Any) -> Any:
    """A setting's value as shown: the storage URL without its password."""
    if name == "storage" and value:
        from .._runfolder import public_storage

        return public_storage(value)
    return value


def _bind_pipeline(namespace: dict[str, Any], result: Any) -> None:
    """Bind the fitted pipeline to its name, unless it holds LLM-written code that was
    left in the run (the inserted cells build it; the run's notes say so)."""
    if result.pipeline is not None:
        namespace[result.pipeline_name] = result.pipeline


def _show_text(text: str) -> None:
    print(text)


def load_ipython_extension(shell: Any) -> None:
    """``%load_ext text2ml_jupyter``: register the magics, their settings and the link
    with the JupyterLab extension."""
    if "Text2ML" in shell.magics_manager.registry:
        return  # loading twice must not stack transformers or hooks
    magics = Text2ML(shell=shell)
    shell.register_magics(magics)  # Magics.__init__ already joined shell.configurables
    shell.input_transformers_post.append(AsyncCellTransformer(shell))

    def remember_cell(info: Any) -> None:
        magics.cell_id = getattr(info, "cell_id", None)

    shell.events.register("pre_run_cell", remember_cell)
    magics.link.open()
    if magics.warm_workers:
        from .. import _forkserver

        _forkserver.prestart()

