"""`tailor studio`: the FastAPI app, its server-rendered pages and `serve_studio`.

Pages are Jinja2 templates (autoescaped) with the CSS and the small vanilla script inlined, so the
app needs no build step, no CDN and no network. The JSON endpoints live in api.py; long work runs
in the job process of jobs.py. Every page renders even when tailor.yaml or the data is broken: the
TailorError's one line is shown at the top instead.
"""
from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from jinja2 import ChainableUndefined, Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from ..config import CONFIG_NAME, TailorConfig, load_config
from ..errors import ConfigError, TailorError
from ..evaluate.report import fmt
from . import runs as R
from .dataview import FLAG_HELP, data_view
from .forms import form_fields
from .jobs import JobManager

HERE = Path(__file__).parent
NAV = [("runs", "/", "Runs"), ("data", "/data", "Data"), ("train", "/train", "Train"),
       ("compare", "/compare", "Compare"), ("chat", "/chat", "Chat"), ("kb", "/kb", "Knowledge base")]


class Studio:
    """One project served: where its config is, its job manager, the template environment."""

    def __init__(self, project: Path) -> None:
        project = Path(project).expanduser().resolve()
        self.config_path = project / CONFIG_NAME if project.is_dir() else project
        if not self.config_path.exists():
            raise ConfigError(f"no {CONFIG_NAME} in {self.config_path.parent}", where=str(self.config_path),
                              fix="pass a project folder (one made by `tailor init DIR`) or its tailor.yaml")
        self.root = self.config_path.parent
        self.jobs = JobManager(self.root, self.config_path)
        # ChainableUndefined: a page whose context could not be built (broken config) still renders its empty state
        self.env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                               undefined=ChainableUndefined)
        self.env.globals.update(css=Markup((HERE / "static" / "studio.css").read_text(encoding="utf-8")),
                                js=Markup((HERE / "static" / "studio.js").read_text(encoding="utf-8")),
                                nav=NAV, flag_help=FLAG_HELP, status_help=R.STATUS_HELP, metric_help=R.METRIC_HELP,
                                fmt=fmt)

    def config(self) -> TailorConfig:
        return load_config(self.config_path)

    def runs_dir(self, cfg: TailorConfig | None) -> Path:
        return (cfg.path(cfg.runs_dir) if cfg else self.root / "runs")

    def render(self, name: str, page: str, **ctx: Any) -> HTMLResponse:
        job = self.jobs.running()
        html = self.env.get_template(name).render(page=page, project=self.root.name, root=str(self.root),
                                                  job_running=job is not None, **ctx)
        return HTMLResponse(html)

    def page(self, name: str, page: str, build, **query: Any) -> HTMLResponse:
        """Render a page whose context needs the config; a broken config shows its one-line error."""
        try:
            cfg = self.config()
        except TailorError as exc:
            return self.render(name, page, error=exc.one_line(), cfg=None, **_empty(page))
        try:
            ctx = build(cfg, **query)
        except TailorError as exc:
            return self.render(name, page, error=exc.one_line(), cfg=cfg, **_empty(page))
        return self.render(name, page, cfg=cfg, **ctx)


def _empty(page: str) -> dict[str, Any]:
    """Context for a page that failed to build: enough for its template to render its empty state."""
    return {"runs": [], "view": None, "rows": [], "fields": [], "doc": None, "trained": [], "run": None}


def create_app(project: str | Path) -> FastAPI:
    """The studio app for one project folder (or its tailor.yaml)."""
    studio = Studio(Path(project))

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        from .chat import close_engines

        studio.jobs.close()  # a running job is stopped as Ctrl-C would stop it
        close_engines()

    app = FastAPI(title="tailor studio", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.studio = studio

    @app.exception_handler(TailorError)
    async def tailor_error(request: Request, exc: TailorError):
        return JSONResponse({"error": exc.one_line()}, status_code=400)

    @app.get("/", response_class=HTMLResponse)
    def runs_page():
        def build(cfg):
            job = studio.jobs.running()
            training = job.run_name if job is not None and job.kind == "train" else None
            return {"runs": R.list_runs(studio.runs_dir(cfg), training)}
        return studio.page("runs.html", "runs", build)

    @app.get("/data", response_class=HTMLResponse)
    def data_page(q: str = "", flag: str = "", page: int = 1):
        def build(cfg):
            view = data_view(cfg, studio.config_path)
            rows, matching, pages = view.page(q, flag, page)
            return {"error": view.error, "view": view, "rows": rows, "matching": matching, "pages": pages, "q": q, "flag": flag,
                    "page_no": min(max(page, 1), pages), "counts": view.flag_counts()}
        return studio.page("data.html", "data", build)

    @app.get("/train", response_class=HTMLResponse)
    def train_page(run: str = ""):
        def build(cfg):
            name = run or cfg.train.run_name
            info = R.run_info(studio.runs_dir(cfg) / name) if (studio.runs_dir(cfg) / name).is_dir() else None
            return {"fields": form_fields(cfg), "run": name, "info": info,
                    "runs": R.list_runs(studio.runs_dir(cfg))}
        return studio.page("train.html", "train", build)

    @app.get("/compare", response_class=HTMLResponse)
    def compare_page(run: str = "", worse: int = 0):
        def build(cfg):
            trained = R.trained_runs(studio.runs_dir(cfg))
            name = run or (cfg.train.run_name if cfg.train.run_name in trained else (trained[0] if trained else ""))
            doc = R.read_json(studio.runs_dir(cfg) / name / "compare.json") if name else None
            rows = (doc or {}).get("rows", [])
            if worse:
                rows = [r for r in rows if R.tuned_worse(r)]
            charts = ""
            if doc:
                from ..evaluate.report import metric_charts

                charts = Markup(metric_charts(doc))
            extra = {k: doc[k] for k in ("checks", "judge") if doc and k in doc}
            return {"trained": trained, "run": name, "doc": doc, "rows": rows, "worse": worse, "charts": charts,
                    "extra": extra, "headline": R.compare_headline(doc) if doc else None,
                    "report": bool(name) and (studio.runs_dir(cfg) / name / "report.html").exists()}
        return studio.page("compare.html", "compare", build)

    @app.get("/runs/{name}/report.html")
    def report(name: str):
        cfg = studio.config()
        path = (studio.runs_dir(cfg) / name / "report.html").resolve()
        if path.parent.parent != studio.runs_dir(cfg).resolve() or not path.exists():
            return JSONResponse({"error": f"run '{name}' has no report."}, status_code=404)
        return FileResponse(path)

    @app.get("/chat", response_class=HTMLResponse)
    def chat_page():
        def build(cfg):
            return {"trained": R.trained_runs(studio.runs_dir(cfg)), "gen": cfg.generation,
                    "run": cfg.train.run_name}
        return studio.page("chat.html", "chat", build)

    @app.get("/kb", response_class=HTMLResponse)
    def kb_page():
        def build(cfg):
            from ..kb.readers import SUPPORTED

            job = studio.jobs.running()
            busy = job is not None and job.kind == "kb_add"  # the job holds the store: do not open it meanwhile
            return {"docs": [] if busy else _kb_docs(cfg), "busy": busy, "supported": ", ".join(sorted(SUPPORTED))}
        return studio.page("kb.html", "kb", build)

    @app.get("/kb/passage", response_class=HTMLResponse)
    def passage_page(doc: str, start: int = 0, end: int = 0, page: int = 0, snippet: str = ""):
        def build(cfg):
            return {"doc_id": doc, "lines": _passage(cfg, doc), "start": start, "end": end, "page_no": page,
                    "snippet": snippet}
        return studio.page("passage.html", "kb", build)

    from .api import router

    app.include_router(router)

    return app


def _kb_docs(cfg: TailorConfig) -> list[Any]:
    from ..kb.catalog import kb_list
    from ..kb.session import kb_folder

    if not kb_folder(cfg).exists():
        return []
    try:
        return kb_list(cfg)
    except TailorError:
        return []


def _passage(cfg: TailorConfig, doc_id: str) -> list[str] | None:
    """The lines of a text document in the knowledge base; None for binary ones (PDF, DOCX) or outside the project."""
    from ..kb.session import source_of

    path = source_of(doc_id, cfg.root).resolve()
    if cfg.root.resolve() not in path.parents or not path.is_file() or path.suffix.lower() in (".pdf", ".docx"):
        return None
    return path.read_text(encoding="utf-8", errors="replace").splitlines()


def run_app(app: FastAPI, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve a studio app until Ctrl-C; on the way out a running job is stopped the same way."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="warning")


def serve_studio(project: str | Path = ".", host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve the studio of a project folder (or its tailor.yaml) on host:port."""
    run_app(create_app(project), host, port)
