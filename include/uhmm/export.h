/* SPDX-License-Identifier: MIT */
/*
 * uhmm/export.h - symbol visibility for the public API.
 *
 * The library is compiled with -fvisibility=hidden; only declarations
 * marked UHMM_API are exported from libuhmm.so.  Mark the declaration in
 * the public header (the definition picks the attribute up from it):
 *
 *     UHMM_API int uhmm_system_create(const struct uhmm_system_opts *opts,
 *                                     struct uhmm_system **out);
 */
#ifndef UHMM_EXPORT_H
#define UHMM_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define UHMM_API __attribute__((visibility("default")))
#else
#define UHMM_API
#endif

#endif /* UHMM_EXPORT_H */
