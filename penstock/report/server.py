"""``penstock ui``: a small local web server over the metadata store (werkzeug routing and serving).

Pages: ``/`` lists runs, ``/runs/<run>`` shows the same views as the HTML report,
``/runs/<run>/report.html`` downloads that report as one self-contained file and
``/compare?a=RUN&b=RUN`` puts two runs' metrics side by side. It reads the store on every
request, so runs finishing while the UI is open appear on reload. There is no authentication:
it binds to 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import mimetypes
import threading
from typing import Any

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from penstock.errors import NotFoundError, PenstockError
from penstock.metadata.store import MetadataStore
from penstock.report import render
from penstock.report.compare import duration_rows, metric_rows
from penstock.report.model import gather_run, run_summary

_STATIC = {"vega.min.js", "vega-lite.min.js", "vega-embed.min.js"}


class ReportApp:
    """The WSGI application; one MetadataStore shared by all requests (it serializes access)."""

    def __init__(self, store: MetadataStore) -> None:
        self.store = store
        self.url_map = Map([
            Rule("/", endpoint="runs"),
            Rule("/runs/<run_id>", endpoint="run"),
            Rule("/runs/<run_id>/report.html", endpoint="download"),
            Rule("/compare", endpoint="compare"),
            Rule("/static/<name>", endpoint="static"),
        ])

    def runs(self, request: Request) -> Response:
        runs = [run_summary(r) for r in self.store.list_runs(request.args.get("pipeline") or None)]
        return _html(render.render_runs(runs))

    def run(self, request: Request, run_id: str) -> Response:
        return _html(render.render_report(gather_run(self.store, run_id), inline=False, nav=True))

    def download(self, request: Request, run_id: str) -> Response:
        response = _html(render.render_report(gather_run(self.store, run_id), inline=True))
        response.headers["Content-Disposition"] = f'attachment; filename="penstock-report-{run_id}.html"'
        return response

    def compare(self, request: Request) -> Response:
        a_id, b_id = request.args.get("a"), request.args.get("b")
        if not a_id or not b_id:
            return _html(render.render_error(400, "compare needs two runs: /compare?a=RUN_ID&b=RUN_ID"), 400)
        a, b = gather_run(self.store, a_id), gather_run(self.store, b_id)
        return _html(render.render_compare(a, b, metric_rows(a, b), duration_rows(a, b)))

    def static(self, request: Request, name: str) -> Response:
        if name not in _STATIC:
            raise NotFound()
        mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
        response = Response(render.static_file(name), mimetype=mime)
        response.headers["Cache-Control"] = "max-age=86400"
        return response

    def dispatch(self, request: Request) -> Response:
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            endpoint, values = adapter.match()
            response: Response = getattr(self, endpoint)(request, **values)
            return response
        except NotFoundError as e:
            return _html(render.render_error(404, str(e)), 404)
        except HTTPException as e:
            return _html(render.render_error(e.code or 500, e.description or e.name), e.code or 500)
        except PenstockError as e:
            return _html(render.render_error(500, str(e)), 500)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.dispatch(Request(environ))(environ, start_response)


def _html(body: str, status: int = 200) -> Response:
    return Response(body, status=status, mimetype="text/html")


def warm_up(store: MetadataStore) -> threading.Thread | None:
    """Import TFMA in the background when some run has an evaluation: the import takes tens of
    seconds, which would otherwise land on the first request for such a run."""
    from penstock.dsl.standard_artifacts import ModelEvaluation

    pipelines = {r.pipeline_name for r in store.list_runs()}
    if not any(store.live_artifacts_of_type(p, ModelEvaluation) for p in pipelines):
        return None

    def load() -> None:
        from penstock.report.evaluation import import_tfma

        import_tfma()

    thread = threading.Thread(target=load, name="penstock-ui-warm-up", daemon=True)
    thread.start()
    return thread


def make_server(store: MetadataStore, host: str = "127.0.0.1", port: int = 8765) -> Any:
    """A threaded werkzeug server (port 0 picks a free port: see ``server.server_port``)."""
    from werkzeug.serving import make_server as werkzeug_server

    return werkzeug_server(host, port, ReportApp(store), threaded=True)
