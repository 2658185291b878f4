/*
 * app.js - what the search page (index.html) does, in plain JavaScript
 * with no framework, talking only to the server it came from:
 *
 * - On load it reads GET /_mapping to learn the index's fields: the text
 *   fields (the snippets come from the first one not named "title", the
 *   hit's title from "title"), and the typed fields with doc values.
 * - Facets: up to FACETS keyword fields (not the keyword twins of text
 *   fields), those with the fewest distinct values (at least 2) in the
 *   whole index, counted once at load by a `cardinality` aggregation; each
 *   shows its BUCKETS most frequent values with their counts, and a click
 *   adds the filter field:"value" (a second click takes it away).
 * - A range control for the first long or double field: its min and max
 *   among the matches (a `stats` aggregation), and from/to inputs that add
 *   the filter field:[from TO to].
 * - A histogram of the first date field: a `date_histogram` by year, month
 *   or day, chosen from the span of dates the search can cover (the whole
 *   index's, narrowed by the date filters a click on a bar adds); a bar is
 *   a button that narrows the search to its interval.
 * - One POST /search per search asks for the page of hits (with snippets
 *   and stored documents) and every aggregation above together.
 * - The whole state (q, filters, range, offset) lives in the URL's query
 *   string: pushed on every change, read back on load and on back/forward.
 * - An error from the API (its status, type and reason) is shown, never
 *   swallowed.
 *
 * Untrusted text (documents, snippets, field names, values, error messages)
 * only ever becomes DOM text nodes: nothing here assigns innerHTML. A
 * snippet is the document's own text with the query's words between <em>
 * and </em>, which the server inserts without escaping anything else (it
 * answers JSON, not HTML); the page splits on those two marks and builds
 * <em> elements around text nodes, so a document that contains markup
 * shows it as text (at worst a literal "<em>" in it looks highlighted).
 * The state of the page is on <body> for whoever drives it (tests):
 * data-state (loading, ready, error), data-seq (searches answered) and
 * data-request (the last search's body).
 */
(function () {
	"use strict";

	var PAGE = 10; /* hits per page */
	var FACETS = 4; /* keyword fields shown as facets, at most */
	var BUCKETS = 10; /* values shown per facet */
	var WINDOW = 10000; /* offset + hits at most (TRAWL_MAX_K) */
	var HIT_FIELDS = 4; /* typed fields shown under a hit */
	var DAY = 86400000;

	var $ = function (id) {
		return document.getElementById(id);
	};

	/* what the mapping says, and what the page makes of it */
	var index = {
		name: "",
		text: [], /* text fields, in the schema's order */
		typed: [], /* typed fields, in the schema's order */
		keywords: [], /* keyword fields with doc values */
		numeric: null, /* the range control's field */
		date: null, /* the histogram's field */
		snippet: null, /* the text field snippets come from */
		facets: [], /* the facets' fields, chosen at load */
		dateMin: null, /* the date field's span in the index (ms) */
		dateMax: null
	};
	var state = {q: "", filters: [], min: "", max: "", offset: 0};
	var seq = 0; /* searches sent; only the last one's answer is shown */

	/* ---- the API ---- */

	/* A request to this server: the JSON answer, or an Error whose message
	 * says the status and the server's reason. Paths are relative to
	 * /_ui/, so that a proxy may serve trawl under a prefix. */
	function api(method, path, body) {
		var init = {method: method, headers: {Accept: "application/json"}};
		if (body !== undefined) {
			init.body = JSON.stringify(body);
			init.headers["Content-Type"] = "application/json";
		}
		var shown = method + " " + path.replace(/^\.\./, "");
		return fetch(path, init).then(function (r) {
			return r.text().then(function (text) {
				var j = null;
				try {
					j = JSON.parse(text);
				} catch (e) {
					j = null;
				}
				if (!r.ok) {
					var err = j && j.error ? j.error : null;
					var why = err && err.reason ? err.reason : text || r.statusText;
					var e = new Error(shown + ": " + r.status +
					                  (err && err.type ? " " + err.type : "") + ": " + why);
					e.status = r.status;
					throw e;
				}
				if (j === null)
					throw new Error(shown + ": the answer is not JSON");
				return j;
			});
		});
	}

	/* ---- the index's fields ---- */

	function learn(m) {
		var names = Object.keys(m);
		if (names.length !== 1 || !m[names[0]].mappings)
			throw new Error("GET /_mapping: expected one index, got " + names.length);
		index.name = names[0];
		var props = m[index.name].mappings.properties || {};
		Object.keys(props).forEach(function (f) {
			var p = props[f];
			if (p.type === "text") {
				index.text.push(f);
				return;
			}
			index.typed.push(f);
			if (p.doc_values === false)
				return; /* cannot be aggregated */
			if (p.type === "keyword")
				index.keywords.push(f);
			else if ((p.type === "long" || p.type === "double") && !index.numeric)
				index.numeric = f;
			else if (p.type === "date" && !index.date)
				index.date = f;
		});
		var body = index.text.filter(function (f) {
			return f !== "title";
		});
		index.snippet = body.length ? body[0] : index.text[0] || null;
		$("index-name").textContent = "index " + index.name;
		document.title = "trawl: " + index.name;
	}

	/* Once, at load: how many distinct values each keyword field has and
	 * the date field's span, over the whole index. One request; if it is
	 * refused (a field with more distinct values than an aggregation may
	 * keep, LIMIT_AGG_VALUES), one per field, two at a time, and a field
	 * refused alone is no facet. A 429 refuses for the server's load, not
	 * for the field: that request is asked again after a moment (a page
	 * that sent every field's at once lost facets to its own 429s). */
	function probe() {
		var aggs = {};
		index.keywords.forEach(function (f) {
			aggs["n:" + f] = {cardinality: {field: f}};
		});
		if (index.date)
			aggs.span = {stats: {field: index.date}};
		var ask = function (a, tries) {
			return api("POST", "../search", {q: "*:*", k: 0, aggs: a}).then(function (r) {
				return r.aggregations || {};
			}, function (e) {
				if (e.status !== 429 || tries <= 1)
					throw e;
				return new Promise(function (done) {
					setTimeout(done, 250);
				}).then(function () {
					return ask(a, tries - 1);
				});
			});
		};
		var each = function () {
			var names = Object.keys(aggs), parts = [], next = 0;
			var one = function () {
				if (next >= names.length)
					return null;
				var a = {};
				a[names[next]] = aggs[names[next]];
				next++;
				return ask(a, 8).catch(function () {
					return {};
				}).then(function (part) {
					parts.push(part);
					return one();
				});
			};
			return Promise.all([one(), one()]).then(function () {
				return Object.assign.apply(null, [{}].concat(parts));
			});
		};
		if (!Object.keys(aggs).length)
			return null;
		return ask(aggs, 8).catch(each).then(choose);
	}

	/* The facets and the date span from the probe's aggregations. */
	function choose(a) {
		var order = function (x, y) {
			return index.keywords.indexOf(x) - index.keywords.indexOf(y);
		};
		index.facets = index.keywords
			.filter(function (f) {
				return a["n:" + f] && a["n:" + f].value >= 2;
			})
			.sort(function (x, y) {
				return a["n:" + x].value - a["n:" + y].value || order(x, y);
			})
			.slice(0, FACETS)
			.sort(order);
		if (a.span && a.span.count) {
			index.dateMin = a.span.min;
			index.dateMax = a.span.max;
		}
	}

	/* ---- filters: their text in the query language (docs/QUERY.md) ---- */

	function quote(v) {
		return "\"" + String(v).replace(/[\\"]/g, "\\$&") + "\"";
	}

	function keywordFilter(field, value) {
		return field + ":" + quote(value);
	}

	function dateFilter(from, to) {
		return index.date + ":[" + quote(new Date(from).toISOString()) + " TO " +
		       quote(new Date(to).toISOString()) + "}";
	}

	/* A filter this page made, read back: {field, value} or {field, from, to}. */
	function parseFilter(f) {
		var m = /^([A-Za-z0-9_.-]+):\["([^"]*)" TO "([^"]*)"\}$/.exec(f);
		if (m && m[1] === index.date) {
			var from = Date.parse(m[2]), to = Date.parse(m[3]);
			if (!isNaN(from) && !isNaN(to))
				return {field: m[1], from: from, to: to};
		}
		m = /^([A-Za-z0-9_.-]+):"((?:[^"\\]|\\.)*)"$/.exec(f);
		if (m)
			return {field: m[1], value: m[2].replace(/\\(.)/g, "$1")};
		return null;
	}

	var NUMBER = /^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

	/* The range control's filter, or null; throws when a bound is not a number. */
	function rangeFilter() {
		if (!index.numeric || (!state.min && !state.max))
			return null;
		[state.min, state.max].forEach(function (v) {
			if (v && !NUMBER.test(v))
				throw new Error(index.numeric + ": \"" + v + "\" is not a number");
		});
		return index.numeric + ":[" + (state.min || "*") + " TO " + (state.max || "*") + "]";
	}

	/* The date histogram's interval, from the span the search can cover. */
	function interval() {
		var from = index.dateMin, to = index.dateMax + 1;
		state.filters.forEach(function (f) {
			var p = parseFilter(f);
			if (p && p.from !== undefined) {
				from = Math.max(from, p.from);
				to = Math.min(to, p.to);
			}
		});
		var days = (to - from) / DAY;
		return days > 3 * 366 ? "year" : days > 92 ? "month" : "day";
	}

	/* The end of the interval that starts at ms. */
	function intervalEnd(ms, unit) {
		var d = new Date(ms);
		if (unit === "year")
			return Date.UTC(d.getUTCFullYear() + 1, 0, 1);
		if (unit === "month")
			return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
		return ms + DAY;
	}

	/* ---- one search ---- */

	function request() {
		var filters = state.filters.slice();
		var r = rangeFilter();
		if (r)
			filters.push(r);
		var body = {q: state.q.trim() ? state.q : "*:*", k: PAGE, offset: state.offset};
		if (filters.length)
			body.filter = filters;
		if (index.snippet)
			body.snippet = index.snippet;
		var aggs = {};
		index.facets.forEach(function (f) {
			aggs["facet:" + f] = {terms: {field: f, size: BUCKETS}};
		});
		if (index.numeric)
			aggs.range = {stats: {field: index.numeric}};
		if (index.date && index.dateMin !== null)
			aggs.histogram = {date_histogram: {field: index.date, calendar_interval: interval()}};
		if (Object.keys(aggs).length)
			body.aggs = aggs;
		return body;
	}

	function search() {
		var mine = ++seq;
		document.body.dataset.state = "loading";
		var body;
		try {
			body = request();
		} catch (e) {
			fail(e);
			return;
		}
		document.body.dataset.request = JSON.stringify(body);
		api("POST", "../search", body).then(function (r) {
			if (mine !== seq)
				return;
			$("error").hidden = true;
			render(r, body);
			document.body.dataset.seq = String(mine);
			document.body.dataset.state = "ready";
		}, function (e) {
			if (mine === seq)
				fail(e);
		});
	}

	function fail(e) {
		var box = $("error");
		box.textContent = e && e.message ? e.message : String(e);
		box.hidden = false;
		document.body.dataset.state = "error";
	}

	/* ---- rendering (text nodes only) ---- */

	function el(tag, cls, text) {
		var e = document.createElement(tag);
		if (cls)
			e.className = cls;
		if (text !== undefined && text !== null)
			e.textContent = String(text);
		return e;
	}

	function clear(node) {
		while (node.firstChild)
			node.removeChild(node.firstChild);
	}

	function num(n) {
		return Number(n).toLocaleString("en");
	}

	/* The snippet's text, its marked words in <em> elements. */
	function snippetNodes(text, parent) {
		var marked = false;
		text.split(/(<em>|<\/em>)/).forEach(function (part) {
			if (part === "<em>" || part === "</em>") {
				marked = part === "<em>";
			} else if (part) {
				var t = document.createTextNode(part);
				if (marked) {
					var em = document.createElement("em");
					em.appendChild(t);
					parent.appendChild(em);
				} else {
					parent.appendChild(t);
				}
			}
		});
	}

	function show(v) {
		if (Array.isArray(v)) {
			var s = v.slice(0, 5).map(show).join(", ");
			return v.length > 5 ? s + ", …" : s;
		}
		return v !== null && typeof v === "object" ? JSON.stringify(v) : String(v);
	}

	function renderHit(h) {
		var li = el("li", "hit");
		li.dataset.id = h.id;
		var src = h.source && typeof h.source === "object" ? h.source : {};
		var title = typeof src.title === "string" && src.title ? src.title : h.id;
		li.appendChild(el("h3", "hit-title", title));
		if (title !== h.id)
			li.appendChild(el("div", "hit-id", h.id));
		if (h.snippet) {
			var p = el("p", "snippet");
			snippetNodes(h.snippet, p);
			li.appendChild(p);
		}
		/* a few typed fields: the date, the number and the facets first */
		var first = [index.date, index.numeric].concat(index.facets);
		var names = first.concat(index.typed).filter(function (f, i, all) {
			return f && all.indexOf(f) === i && src[f] !== undefined && src[f] !== null;
		});
		if (names.length) {
			var dl = el("dl", "fields");
			names.slice(0, HIT_FIELDS).forEach(function (f) {
				var d = el("div");
				d.appendChild(el("dt", null, f));
				d.appendChild(el("dd", null, show(src[f])));
				dl.appendChild(d);
			});
			li.appendChild(dl);
		}
		return li;
	}

	function renderFilters() {
		var list = $("filter-list");
		clear(list);
		var all = state.filters.map(function (f, i) {
			return {text: f, drop: function () {
				state.filters.splice(i, 1);
			}};
		});
		var r = null;
		try {
			r = rangeFilter();
		} catch (e) {
			r = null;
		}
		if (r)
			all.push({text: r, drop: function () {
				state.min = state.max = "";
			}});
		all.forEach(function (f) {
			var li = el("li", "filter");
			li.dataset.filter = f.text;
			li.appendChild(el("span", null, label(f.text)));
			var b = el("button", "remove", "×");
			b.type = "button";
			b.title = "remove " + f.text;
			b.setAttribute("aria-label", "remove filter " + f.text);
			b.addEventListener("click", function () {
				f.drop();
				changed();
			});
			li.appendChild(b);
			list.appendChild(li);
		});
		$("filters").hidden = all.length === 0;
	}

	/* A filter as a person reads it: "section: web", "date: 2015-03",
	 * "installed_size_kb: 100 to 1,000"; else its text. */
	function label(f) {
		var p = parseFilter(f);
		if (p && p.value !== undefined)
			return p.field + ": " + p.value;
		if (p) {
			var iso = new Date(p.from).toISOString();
			var cut = {year: 4, month: 7, day: 10};
			for (var unit in cut)
				if (intervalEnd(p.from, unit) === p.to)
					return p.field + ": " + iso.slice(0, cut[unit]);
			return p.field + ": " + iso.slice(0, 10) + " to before " +
			       new Date(p.to).toISOString().slice(0, 10);
		}
		var m = /^([A-Za-z0-9_.-]+):\[(\S+) TO (\S+)\]$/.exec(f);
		if (m && m[1] === index.numeric) {
			var end = function (v) {
				return v === "*" ? "any" : NUMBER.test(v) ? num(v) : v;
			};
			return m[1] + ": " + end(m[2]) + " to " + end(m[3]);
		}
		return f;
	}

	function renderFacets(aggs) {
		var box = $("facets");
		clear(box);
		index.facets.forEach(function (f) {
			var a = aggs["facet:" + f];
			if (!a)
				return;
			var sec = el("section", "facet");
			sec.dataset.field = f;
			sec.appendChild(el("h2", null, f));
			var ul = el("ul");
			a.buckets.forEach(function (b) {
				var text = keywordFilter(f, b.key);
				var on = state.filters.indexOf(text) >= 0;
				var li = el("li");
				var btn = el("button", "bucket");
				btn.type = "button";
				btn.dataset.value = String(b.key);
				btn.dataset.count = String(b.doc_count);
				btn.setAttribute("aria-pressed", on ? "true" : "false");
				btn.appendChild(el("span", "value", b.key));
				btn.appendChild(el("span", "count", num(b.doc_count)));
				btn.addEventListener("click", function () {
					var i = state.filters.indexOf(text);
					if (i >= 0)
						state.filters.splice(i, 1);
					else
						state.filters.push(text);
					changed();
				});
				li.appendChild(btn);
				ul.appendChild(li);
			});
			if (!a.buckets.length)
				ul.appendChild(el("li", "note", "no values here"));
			sec.appendChild(ul);
			box.appendChild(sec);
		});
	}

	function renderRange(aggs) {
		var s = aggs.range;
		$("range").hidden = !s;
		if (!s)
			return;
		$("range-title").textContent = index.numeric;
		$("range-span").textContent =
		    s.count ? "here: " + num(s.min) + " to " + num(s.max) : "no values here";
		$("range").dataset.min = s.count ? String(s.min) : "";
		$("range").dataset.max = s.count ? String(s.max) : "";
		$("range-min").placeholder = s.count ? String(s.min) : "";
		$("range-max").placeholder = s.count ? String(s.max) : "";
	}

	function renderHistogram(aggs, unit) {
		var h = aggs.histogram;
		$("histogram").hidden = !h;
		if (!h)
			return;
		var bars = $("bars");
		clear(bars);
		$("histogram-title").textContent = index.date + " by " + unit;
		var top = 1;
		h.buckets.forEach(function (b) {
			top = Math.max(top, b.doc_count);
		});
		var cut = unit === "year" ? 4 : unit === "month" ? 7 : 10;
		h.buckets.forEach(function (b) {
			var name = b.key_as_string.slice(0, cut);
			var bar = el("button", "bar");
			bar.type = "button";
			bar.title = name + ": " + num(b.doc_count);
			bar.setAttribute("aria-label", bar.title);
			bar.dataset.from = String(b.key);
			bar.dataset.to = String(intervalEnd(b.key, unit));
			bar.dataset.count = String(b.doc_count);
			bar.dataset.label = name;
			var fill = el("span", "fill");
			fill.style.height = (100 * b.doc_count / top) + "%";
			bar.appendChild(fill);
			bar.disabled = b.doc_count === 0;
			bar.addEventListener("click", function () {
				state.filters.push(dateFilter(b.key, intervalEnd(b.key, unit)));
				changed();
			});
			bars.appendChild(bar);
		});
		var n = h.buckets.length;
		$("axis-first").textContent = n ? h.buckets[0].key_as_string.slice(0, cut) : "";
		$("axis-last").textContent = n > 1 ? h.buckets[n - 1].key_as_string.slice(0, cut) : "";
	}

	function render(r, body) {
		var total = r.total.value, gte = r.total.relation === "gte";
		var t = $("total");
		t.dataset.total = String(total);
		t.dataset.relation = r.total.relation;
		t.textContent = (gte ? "at least " : "") + num(total) + (total === 1 ? " hit" : " hits");
		$("took").textContent = "(" + r.took_ms.toFixed(1) + " ms" +
		                        (r.coverage && r.coverage.partial ? ", some shards missing" : "") + ")";
		var hits = $("hits");
		clear(hits);
		hits.start = state.offset + 1;
		r.hits.forEach(function (h) {
			hits.appendChild(renderHit(h));
		});
		var aggs = r.aggregations || {};
		renderFilters();
		renderFacets(aggs);
		renderRange(aggs);
		renderHistogram(aggs, body.aggs && body.aggs.histogram ?
		                          body.aggs.histogram.date_histogram.calendar_interval : "");
		/* a text-only index: the hits take the whole width */
		$("side").hidden = $("filters").hidden && $("range").hidden && $("histogram").hidden &&
		                   !index.facets.length;
		var end = Math.min(total, WINDOW);
		$("pager").hidden = total === 0;
		$("prev").disabled = state.offset === 0;
		$("next").disabled = state.offset + PAGE >= end;
		$("page-info").textContent = r.hits.length ?
		    num(state.offset + 1) + "–" + num(state.offset + r.hits.length) : "";
	}

	/* ---- the state in the URL ---- */

	function toURL() {
		var p = new URLSearchParams();
		if (state.q)
			p.set("q", state.q);
		state.filters.forEach(function (f) {
			p.append("filter", f);
		});
		if (state.min)
			p.set("min", state.min);
		if (state.max)
			p.set("max", state.max);
		if (state.offset)
			p.set("offset", String(state.offset));
		var s = p.toString();
		return location.pathname + (s ? "?" + s : "");
	}

	function fromURL() {
		var p = new URLSearchParams(location.search);
		var off = parseInt(p.get("offset") || "0", 10);
		state = {
			q: p.get("q") || "",
			filters: p.getAll("filter"),
			min: p.get("min") || "",
			max: p.get("max") || "",
			offset: off > 0 && off < WINDOW ? off - off % PAGE : 0
		};
		$("q").value = state.q;
		$("range-min").value = state.min;
		$("range-max").value = state.max;
	}

	/* A change the user made: back to the first page (unless it was the
	 * page), into the browser's history, and searched. */
	function changed(keepOffset) {
		if (!keepOffset)
			state.offset = 0;
		history.pushState(null, "", toURL());
		$("range-min").value = state.min;
		$("range-max").value = state.max;
		search();
	}

	function wire() {
		$("search-form").addEventListener("submit", function (e) {
			e.preventDefault();
			state.q = $("q").value;
			changed();
		});
		$("range-form").addEventListener("submit", function (e) {
			e.preventDefault();
			state.min = $("range-min").value.trim();
			state.max = $("range-max").value.trim();
			changed();
		});
		$("prev").addEventListener("click", function () {
			state.offset = Math.max(0, state.offset - PAGE);
			changed(true);
		});
		$("next").addEventListener("click", function () {
			state.offset += PAGE;
			changed(true);
		});
		window.addEventListener("popstate", function () {
			fromURL();
			search();
		});
	}

	function start() {
		wire();
		fromURL();
		api("GET", "../_mapping")
			.then(learn)
			.then(probe)
			.then(search)
			.catch(fail);
	}

	start();
})();
