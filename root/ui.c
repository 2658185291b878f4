/*
 * ui.c - serving the search page's files (see ui.h). The page is static:
 * every answer is one of the embedded files with its headers, made on the
 * event loop without waiting for anything. The headers keep the page to
 * itself: a Content-Security-Policy that allows scripts, styles and
 * fetches from this origin only (the page has no inline script or style,
 * and asks only this server's API), no framing, no sniffing of types and
 * no referrer.
 */
#include "ui.h"

#include <stdio.h>
#include <string.h>

#define UI_PREFIX "/_ui"

/* The page's Content-Security-Policy: this origin only, for everything. */
#define UI_CSP                                                                                     \
	"default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; "        \
	"object-src 'none'"

int ui_path(const char *path)
{
	size_t n = strlen(UI_PREFIX);
	return !strncmp(path, UI_PREFIX, n) && (path[n] == 0 || path[n] == '/');
}

/* The Content-Type of a file, by its name's ending. */
static const char *content_type(const char *name)
{
	static const struct {
		const char *suffix, *type;
	} types[] = {
	    {".html", "text/html; charset=utf-8"},
	    {".js", "text/javascript; charset=utf-8"},
	    {".css", "text/css; charset=utf-8"},
	    {".svg", "image/svg+xml"},
	};
	size_t n = strlen(name);
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
		size_t s = strlen(types[i].suffix);
		if (n > s && !strcmp(name + n - s, types[i].suffix))
			return types[i].type;
	}
	return "application/octet-stream";
}

static void security_headers(http_response *resp)
{
	http_response_header(resp, "Content-Security-Policy", UI_CSP);
	http_response_header(resp, "X-Content-Type-Options", "nosniff");
	http_response_header(resp, "Referrer-Policy", "no-referrer");
	http_response_header(resp, "X-Frame-Options", "DENY");
}

void ui_serve(const http_request *req, http_response *resp)
{
	const char *name = req->path + strlen(UI_PREFIX);
	if (strcmp(req->method, "GET") && strcmp(req->method, "HEAD")) {
		http_response_error(resp, 405, "method_not_allowed",
		                    "%s %.200s: the search page is read with GET", req->method,
		                    req->path);
		return;
	}
	if (!*name) {
		/* relative links in the page need the final slash */
		char to[LIMIT_HTTP_HEADER_BYTES + 8];
		snprintf(to, sizeof to, UI_PREFIX "/%s%s", req->query[0] ? "?" : "", req->query);
		http_response_header(resp, "Location", to);
		http_response_text(resp, 308, "text/plain; charset=utf-8", to, strlen(to));
		return;
	}
	name++; /* the slash */
	if (!*name)
		name = "index.html";
	for (size_t i = 0; i < ui_nfiles; i++)
		if (!strcmp(ui_files[i].name, name)) {
			security_headers(resp);
			http_response_header(resp, "Cache-Control", "no-cache");
			http_response_text(resp, 200, content_type(name), ui_files[i].data,
			                   ui_files[i].len);
			return;
		}
	http_response_error(resp, 404, "not_found",
	                    "no file %.200s in the search page (/_ui/ serves index.html, app.js, "
	                    "style.css and icon.svg)",
	                    req->path);
}
