/* SPDX-License-Identifier: MIT */
/* version.c - uhmm_version(): the library's own version, for programs that
 * want to know which libuhmm.so they were loaded with. No kernel counterpart.
 */
#include <uhmm/version.h>

const char *uhmm_version(void)
{
	return UHMM_VERSION_STRING;
}
