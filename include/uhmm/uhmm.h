/* SPDX-License-Identifier: MIT */
/* uhmm/uhmm.h - the whole public API of uhmm, a userspace Linux HMM. */
#ifndef UHMM_UHMM_H
#define UHMM_UHMM_H

#include <uhmm/system.h>
#include <uhmm/mm.h>
#include <uhmm/notifier.h>
#include <uhmm/memremap.h>
#include <uhmm/migrate.h>
#include <uhmm/hmm.h>
#include <uhmm/trace.h>
#include <uhmm/version.h>

#endif
