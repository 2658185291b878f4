/*
 * ui.h - the search page at /_ui/ (ui/: index.html, app.js, style.css,
 * icon.svg),
 * served by the root's HTTP API (root/api.c) for `trawl serve` and
 * `trawl root` alike. The files are compiled into the binary (ui/embed.py
 * writes them as byte arrays at build time), so nothing beside it is
 * needed and what is served is what was built.
 */
#ifndef TRAWL_ROOT_UI_H
#define TRAWL_ROOT_UI_H

#include <stddef.h>

#include "common/http.h"

/* One file of the page, as the build embedded it. */
typedef struct ui_file {
	const char *name; /* "index.html", "app.js", "style.css", "icon.svg" */
	const unsigned char *data;
	size_t len;
} ui_file;

/* Every file, written by ui/embed.py (the generated ui_files.c). */
extern const ui_file ui_files[];
extern const size_t ui_nfiles;

/* ui_path: path is /_ui or below it (the paths ui_serve answers). */
int ui_path(const char *path);

/*
 * ui_serve answers a request for a ui_path: /_ui/ is index.html and
 * /_ui/NAME the file NAME, each with its Content-Type, Cache-Control:
 * no-cache and a Content-Security-Policy that lets the page load and fetch
 * from this origin only; /_ui redirects (308) to /_ui/ with the query
 * string kept; any other path below /_ui/ is 404 and a method other than
 * GET or HEAD 405, as JSON errors. Never blocks (event loop safe).
 */
void ui_serve(const http_request *req, http_response *resp);

#endif
