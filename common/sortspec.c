/*
 * sortspec.c - the text form of a sort (sortspec.h).
 */
#include "common/sortspec.h"

#include <string.h>

#include "common/error.h"

int sortspec_parse(char *spec, trawl_sort *out, uint32_t *n, char *err, size_t errlen)
{
	*n = 0;
	char *save = NULL;
	for (char *key = strtok_r(spec, ",", &save); key; key = strtok_r(NULL, ",", &save)) {
		while (*key == ' ')
			key++;
		if (*n == TRAWL_MAX_SORT_KEYS)
			return errf(err, errlen, TRAWL_ELIMIT, "a sort has at most %d keys",
			            TRAWL_MAX_SORT_KEYS);
		trawl_sort *k = &out[*n];
		memset(k, 0, sizeof *k);
		char *opt = strchr(key, ':');
		if (opt)
			*opt++ = 0;
		if (!key[0])
			return errf(err, errlen, TRAWL_EINVAL, "sort key %u names no field",
			            *n + 1);
		k->field = key;
		k->desc = !strcmp(key, "_score");
		int dir = 0, miss = 0, mode = 0;
		while (opt) {
			char *next = strchr(opt, ':');
			if (next)
				*next++ = 0;
			if ((!strcmp(opt, "asc") || !strcmp(opt, "desc")) && !dir++)
				k->desc = opt[0] == 'd';
			else if ((!strcmp(opt, "first") || !strcmp(opt, "last")) && !miss++)
				k->missing_first = opt[0] == 'f';
			else if ((!strcmp(opt, "min") || !strcmp(opt, "max")) && !mode++)
				k->mode = opt[1] == 'i' ? TRAWL_SORT_MIN : TRAWL_SORT_MAX;
			else
				return errf(
				    err, errlen, TRAWL_EINVAL,
				    "sort key %u (\"%.64s\"): \"%.32s\" is not asc, desc, first, "
				    "last, min or max, or repeats one of them",
				    *n + 1, key, opt);
			opt = next;
		}
		(*n)++;
	}
	if (*n == 0)
		return errf(err, errlen, TRAWL_EINVAL, "the sort names no field");
	return TRAWL_OK;
}
