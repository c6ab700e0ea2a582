/* SPDX-License-Identifier: MIT */
/* uhmm/version.h - the version of the headers, and of the library at run time.
 *
 * The single source of the version number: CMakeLists.txt reads the three
 * macros below (project VERSION, the shared library's file name, uhmm.pc and
 * the CMake package all follow them).
 */
#ifndef UHMM_VERSION_H
#define UHMM_VERSION_H

#include <uhmm/export.h>

#ifdef __cplusplus
extern "C" {
#endif

#define UHMM_VERSION_MAJOR 0
#define UHMM_VERSION_MINOR 1
#define UHMM_VERSION_PATCH 0

#define UHMM_VERSION_STR_(x) #x
#define UHMM_VERSION_STR(x) UHMM_VERSION_STR_(x)
/* "MAJOR.MINOR.PATCH" of these headers. */
#define UHMM_VERSION_STRING                                                                \
	UHMM_VERSION_STR(UHMM_VERSION_MAJOR) "." UHMM_VERSION_STR(UHMM_VERSION_MINOR) "." \
		UHMM_VERSION_STR(UHMM_VERSION_PATCH)
/* One number for #if: UHMM_VERSION_NUMBER >= UHMM_VERSION_ENCODE(0, 2, 0). */
#define UHMM_VERSION_ENCODE(major, minor, patch) (((major) * 1000000L) + ((minor) * 1000L) + (patch))
#define UHMM_VERSION_NUMBER UHMM_VERSION_ENCODE(UHMM_VERSION_MAJOR, UHMM_VERSION_MINOR, UHMM_VERSION_PATCH)

/*
 * uhmm_version - "MAJOR.MINOR.PATCH" of the library the program runs with,
 * which may be newer than the headers it was compiled with
 * (UHMM_VERSION_STRING). A static string; any context.
 */
UHMM_API const char *uhmm_version(void);

#ifdef __cplusplus
}
#endif
#endif
