"""``penstock ui``: a small local web server over the metadata store (werkzeug routing and serving).

Pages: ``/`` lists runs, ``/runs/<run>`` shows the same views as the HTML report,
``/runs/<run>/report.html`` downloads that report as one self-contained file,
``/compare?run=A&run=B&run=C`` (or ``?a=A&b=B``) puts any number of runs side by side, and the
model registry: ``/models``, ``/models/<name>`` (versions, lineage, blessings, what serves) and
``/models/<name>/diff?a=V&b=W``. It reads the store on every
request, so runs finishing while the UI is open appear on reload. There is no authentication:
it binds to 127.0.0.1 unless told otherwise, and then answers only requests whose ``Host``
names a loopback address (``localhost``, ``127.0.0.1``, ``[::1]``): a web page on another site
cannot reach it through a DNS name rebound to 127.0.0.1 (DNS rebinding).
"""

from __future__ import annotations

import ipaddress
import mimetypes
from typing import Any

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from penstock.errors import NotFoundError, PenstockError
from penstock.metadata.store import MetadataStore
from penstock.report import render
from penstock.report.compare import compare_runs
from penstock.report.model import gather_run, run_summary

_STATIC = {"vega.min.js", "vega-lite.min.js", "vega-embed.min.js"}


class ReportApp:
    """The WSGI application; one MetadataStore shared by all requests (it serializes access)."""

    def __init__(self, store: MetadataStore, *, loopback_only: bool = True) -> None:
        self.store = store
        self.loopback_only = loopback_only
        self.url_map = Map([
            Rule("/", endpoint="runs"),
            Rule("/runs/<run_id>", endpoint="run"),
            Rule("/runs/<run_id>/report.html", endpoint="download"),
            Rule("/compare", endpoint="compare"),
            Rule("/models", endpoint="models"),
            Rule("/models/<name>", endpoint="model"),
            Rule("/models/<name>/diff", endpoint="model_diff"),
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
        run_ids = request.args.getlist("run") or [r for r in (request.args.get("a"), request.args.get("b")) if r]
        if len(run_ids) < 2:
            return _html(render.render_error(
                400, "compare needs two or more runs: /compare?run=RUN_ID&run=RUN_ID (or ?a=RUN_ID&b=RUN_ID)"), 400)
        return _html(render.render_compare(compare_runs(self.store, run_ids)))

    def models(self, request: Request) -> Response:
        from penstock.registry.catalog import Catalog
        from penstock.registry.views import models_overview

        return _html(render.render_models(models_overview(Catalog(self.store))))

    def model(self, request: Request, name: str) -> Response:
        from penstock.registry.catalog import Catalog
        from penstock.registry.views import model_page_data

        server = request.args.get("server") or None
        if server and not is_loopback(_host_name(server.split("://", 1)[-1].split("/", 1)[0])):
            # The UI fetches what it is given: only a server on this machine, never a URL from a link.
            return _html(render.render_error(400, f"server {server[:100]!r}: only a loopback address is queried"), 400)
        return _html(render.render_model(model_page_data(Catalog(self.store), name, server=server)))

    def model_diff(self, request: Request, name: str) -> Response:
        from penstock.registry.catalog import Catalog
        from penstock.registry.diff import diff_versions

        try:
            a, b = int(request.args.get("a", "")), int(request.args.get("b", ""))
        except ValueError:
            return _html(render.render_error(400, f"diff needs two version numbers: /models/{name}/diff?a=1&b=2"), 400)
        catalog = Catalog(self.store)
        return _html(render.render_model_diff(diff_versions(catalog.version(name, a), catalog.version(name, b))))

    def static(self, request: Request, name: str) -> Response:
        if name not in _STATIC:
            raise NotFound()
        mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
        response = Response(render.static_file(name), mimetype=mime)
        response.headers["Cache-Control"] = "max-age=86400"
        return response

    def dispatch(self, request: Request) -> Response:
        if self.loopback_only and not is_loopback(_host_name(request.host)):
            return _html(render.render_error(
                403, f"this UI answers only to loopback names (localhost, 127.0.0.1, [::1]), not Host "
                     f"{request.host[:100]!r}: a protection against DNS rebinding. Serve it wider with "
                     "penstock ui --host ADDRESS"), 403)
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


def is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_name(host: str) -> str:
    """``Host`` without its port: ``[::1]:8765`` -> ``::1``, ``localhost:8765`` -> ``localhost``."""
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def make_server(store: MetadataStore, host: str = "127.0.0.1", port: int = 8765) -> Any:
    """A threaded werkzeug server (port 0 picks a free port: see ``server.server_port``)."""
    from werkzeug.serving import make_server as werkzeug_server

    return werkzeug_server(host, port, ReportApp(store, loopback_only=is_loopback(host)), threaded=True)
