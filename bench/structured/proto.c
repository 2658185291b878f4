/*
 * proto.c - the structured-search protocol's schema, analysis and dates
 * (proto.h).
 */
#include "proto.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "common/civil.h"

int p_schema_load(pschema *s, const char *path)
{
	memset(s, 0, sizeof *s);
	json_error_t je;
	json_t *root = json_load_file(path, 0, &je);
	json_t *fields = root ? json_object_get(root, "fields") : NULL;
	const char *id = root ? json_string_value(json_object_get(root, "id")) : NULL;
	if (!root || !json_is_object(fields) || !id || strlen(id) >= sizeof s->idfield) {
		fprintf(stderr, "%s: not a protocol schema (%s)\n", path,
		        root ? "fields, id" : je.text);
		json_decref(root);
		return -1;
	}
	snprintf(s->idfield, sizeof s->idfield, "%s", id);
	const char *k;
	json_t *v;
	static const char *const names[] = {"text",    "keyword", "keyword_multi",
	                                    "integer", "date",    "boolean"};
	json_object_foreach(fields, k, v)
	{
		const char *t = json_string_value(v);
		int type = -1;
		for (int i = 0; t && i < 6; i++)
			if (!strcmp(t, names[i]))
				type = i;
		if (type < 0 || s->n == P_MAX_FIELDS || strlen(k) >= sizeof s->name[0]) {
			fprintf(stderr, "%s: field %s: unknown type or too many fields\n", path, k);
			json_decref(root);
			return -1;
		}
		snprintf(s->name[s->n], sizeof s->name[0], "%s", k);
		s->type[s->n++] = type;
	}
	json_decref(root);
	return 0;
}

int p_field(const pschema *s, const char *name)
{
	for (uint32_t i = 0; i < s->n; i++)
		if (!strcmp(s->name[i], name))
			return (int)i;
	return -1;
}

int p_text_append(const char *text, size_t n, char *out, size_t cap, size_t *len)
{
	size_t at = *len;
	int in = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)text[i];
		int alnum = c < 0x80 && isalnum(c);
		if (alnum && !in && at > 0) {
			if (at + 1 >= cap)
				return -1;
			out[at++] = ' ';
		}
		if (alnum) {
			if (at + 1 >= cap)
				return -1;
			out[at++] = (char)tolower(c);
		}
		in = alnum;
	}
	out[at] = 0;
	*len = at;
	return 0;
}

/* n digits at s into *v; 0 or -1. */
static int digits(const char *s, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		*v = *v * 10 + (s[i] - '0');
	}
	return 0;
}

int p_date(const json_t *v, int64_t *ms)
{
	if (json_is_integer(v)) {
		*ms = json_integer_value(v);
		return 0;
	}
	const char *s = json_string_value(v);
	if (!s)
		return -1;
	size_t n = strlen(s);
	int y, mo, d, h = 0, mi = 0, sec = 0, frac = 0;
	if (n < 10 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
	    digits(s + 8, 2, &d) || mo < 1 || mo > 12 || d < 1 || d > 31)
		return -1;
	const char *p = s + 10;
	int64_t off = 0;
	if (*p == 'T' || *p == ' ') {
		if (digits(p + 1, 2, &h) || p[3] != ':' || digits(p + 4, 2, &mi))
			return -1;
		p += 6;
		if (*p == ':') {
			if (digits(p + 1, 2, &sec))
				return -1;
			p += 3;
			if (*p == '.') {
				int nd = 0;
				for (p++; *p >= '0' && *p <= '9'; p++, nd++)
					if (nd < 3)
						frac = frac * 10 + (*p - '0');
				if (nd == 0)
					return -1;
				for (; nd < 3; nd++)
					frac *= 10;
			}
		}
		if (*p == 'Z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			int sign = *p == '-' ? -1 : 1, oh, om = 0;
			if (digits(p + 1, 2, &oh))
				return -1;
			p += 3;
			if (*p == ':') {
				if (digits(p + 1, 2, &om))
					return -1;
				p += 3;
			} else if (*p >= '0' && *p <= '9') {
				if (digits(p, 2, &om))
					return -1;
				p += 2;
			}
			off = sign * ((int64_t)oh * 3600 + (int64_t)om * 60) * 1000;
		}
	}
	if (*p || h > 23 || mi > 59 || sec > 60)
		return -1;
	*ms =
	    ((civil_days(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec) * 1000) +
	    frac - off;
	return 0;
}
