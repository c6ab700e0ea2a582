/* SPDX-License-Identifier: MIT */
/*
 * uhmm/export.h - symbol visibility, and atomic fields in public structures.
 *
 * The library is compiled with -fvisibility=hidden; only declarations
 * marked UHMM_API are exported from libuhmm.so.  Mark the declaration in
 * the public header (the definition picks the attribute up from it):
 *
 *     UHMM_API int uhmm_system_create(const struct uhmm_system_opts *opts,
 *                                     struct uhmm_system **out);
 *
 * The public headers compile as C99 (-pedantic), C11/C17 and C++11..C++23.
 */
#ifndef UHMM_EXPORT_H
#define UHMM_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define UHMM_API __attribute__((visibility("default")))
#else
#define UHMM_API
#endif

/*
 * UHMM_ATOMIC(type) - a private field of an embeddable structure that the
 * library (always C11) accesses with <stdatomic.h>. Drivers never touch such
 * fields, so where _Atomic does not exist (C++, C99) the field is declared
 * with its plain type: same size and alignment, checked below for C11 and by
 * the C++ consumer test (tests/cxx), so the structure has one layout in
 * every language.
 */
#if !defined(__cplusplus) && defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L && \
	!defined(__STDC_NO_ATOMICS__)
#define UHMM_ATOMIC(type) _Atomic(type)
_Static_assert(sizeof(_Atomic(unsigned long)) == sizeof(unsigned long) &&
		       _Alignof(_Atomic(unsigned long)) == _Alignof(unsigned long),
	       "UHMM_ATOMIC(unsigned long) must have the layout of unsigned long");
_Static_assert(sizeof(_Atomic(void *)) == sizeof(void *) && _Alignof(_Atomic(void *)) == _Alignof(void *),
	       "UHMM_ATOMIC(pointer) must have the layout of a pointer");
#else
#define UHMM_ATOMIC(type) type
#endif

#endif /* UHMM_EXPORT_H */
