/*
 * header_test.c - include/trawl/trawl.h compiles on its own, first, with no
 * other header before it (dav1d's rule), and its enum values are stable.
 */
#include "trawl/trawl.h"

_Static_assert(TRAWL_OK == 0 && TRAWL_EINTERNAL == 14 && TRAWL_EBUSY == 15,
               "error numbers are never renumbered");

int main(void)
{
	return trawl_strerror(TRAWL_EQUERY)[0] ? 0 : 1;
}
