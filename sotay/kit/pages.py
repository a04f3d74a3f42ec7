"""The web pages (`web/` at the top of the repository): static HTML, CSS and
JavaScript that call the services' APIs from the browser. Whoever serves the
APIs on one origin serves them too: `sotay up` (and `sotay serve`) here,
nginx in the compose deployment.

- `/`: the member handbook (sign up, sign in, news, meetings, own record).
- `/dashboard`: the rollout dashboard for leaders.
- `/console/approvals`: the approval console of cell secretaries and unit admins.
- `/console/editorial`: the editorial console (desk, workflow, feed sources).
- `/console/registry`: the registry console (search, records, transfers, standing, imports, corrections;
  for the city's operators, the unusual-read alerts).
- `/reset`: a member sets a new password with a reset code; `/console/resets`: staff issue the codes.
- `/console/consents`: who in a unit agreed to which version of the privacy notice (issue 19).
- `/console/meetings`: the cell secretary plans the cell's meetings, records who came with the minutes,
  sees the absences two meetings running and which cells planned next month's meeting (issue 20).
- `/console/reviews`: the yearly review and ranking of members (issue 20): the city opens a year's
  cycle, cell secretaries propose each member's level, unit administrators decide, with the counts.
- `/assets/…`: the pages' styles and scripts (no file is loaded from
  another origin at run time).
- `/manifest.webmanifest`, `/sw.js`, `/icons/…`: what makes the handbook an
  app a phone installs (web/sw.js says what it keeps on the device);
  `/favicon.ico`, the icon browsers ask for at the root.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

WEB = Path(os.environ.get("SOTAY_WEB_DIR") or Path(__file__).resolve().parents[2] / "web")
PAGES = {"/": "index.html", "/reset": "reset.html", "/reset.html": "reset.html", "/dashboard": "dashboard.html",
         "/console/": "console/index.html", "/console/approvals": "console/approvals.html",
         "/console/editorial": "console/editorial.html", "/console/registry": "console/registry.html",
         "/console/resets": "console/resets.html", "/console/consents": "console/consents.html",
         "/console/meetings": "console/meetings.html", "/console/reviews": "console/reviews.html"}
# Pages change with a deployment: the browser asks again each time (a 304 when unchanged).
NO_STALE = {"Cache-Control": "no-cache"}
# The installed handbook's files, at the top so that the service worker's scope is the whole site.
APP_FILES = {"/sw.js": ("sw.js", "text/javascript; charset=utf-8"),
             "/manifest.webmanifest": ("manifest.webmanifest", "application/manifest+json"),
             "/favicon.ico": ("favicon.ico", "image/x-icon")}


def mount_pages(app: FastAPI) -> None:
    if not WEB.is_dir():
        return  # an API-only install
    app.mount("/assets", StaticFiles(directory=WEB / "assets"), name="assets")
    for route, name in PAGES.items():
        def page(name: str = name) -> FileResponse:
            return FileResponse(WEB / name, media_type="text/html; charset=utf-8", headers=NO_STALE)
        app.add_api_route(route, page, methods=["GET"], include_in_schema=False)
    for route, (name, media_type) in APP_FILES.items():
        def app_file(name: str = name, media_type: str = media_type) -> FileResponse:
            return FileResponse(WEB / name, media_type=media_type, headers=NO_STALE)
        app.add_api_route(route, app_file, methods=["GET"], include_in_schema=False)
    app.mount("/icons", StaticFiles(directory=WEB / "icons"), name="icons")
