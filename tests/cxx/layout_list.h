/* SPDX-License-Identifier: MIT */
/* layout_list.h - every structure of the public API that a driver embeds or
 * fills, with its fields, as one X-macro list.
 *
 * layout_c.c (compiled as the library is: C11) prints the C compiler's
 * sizeof, alignof and offsetof of each into layout_c.h; consumer.cpp
 * static_asserts the C++ compiler's view against those numbers. A structure
 * added to include/uhmm/ belongs here.
 */
#ifndef UHMM_TESTS_LAYOUT_LIST_H
#define UHMM_TESTS_LAYOUT_LIST_H

/* S(struct tag) once per structure, then F(struct tag, field) per field. */
#define UHMM_LAYOUT_LIST(S, F)                                                                   \
	S(uhmm_system_opts) F(uhmm_system_opts, ram_bytes)                                       \
	S(uhmm_system_stats) F(uhmm_system_stats, ram_pages) F(uhmm_system_stats, free_pages)    \
	F(uhmm_system_stats, used_pages) F(uhmm_system_stats, device_pages)                      \
	F(uhmm_system_stats, device_pages_used)                                                  \
	S(uhmm_vma_info) F(uhmm_vma_info, start) F(uhmm_vma_info, end) F(uhmm_vma_info, prot)   \
	F(uhmm_vma_info, flags) F(uhmm_vma_info, anonymous)                                      \
	S(uhmm_pte_info) F(uhmm_pte_info, kind) F(uhmm_pte_info, write) F(uhmm_pte_info, dirty)  \
	F(uhmm_pte_info, young) F(uhmm_pte_info, soft_dirty) F(uhmm_pte_info, pfn)               \
	F(uhmm_pte_info, refcount) F(uhmm_pte_info, mapcount)                                    \
	S(uhmm_rb_node) F(uhmm_rb_node, parent) F(uhmm_rb_node, left) F(uhmm_rb_node, right)    \
	F(uhmm_rb_node, red)                                                                     \
	S(uhmm_rb_root) F(uhmm_rb_root, node)                                                    \
	S(uhmm_interval_node) F(uhmm_interval_node, rb) F(uhmm_interval_node, start)             \
	F(uhmm_interval_node, last) F(uhmm_interval_node, subtree_last)                          \
	S(uhmm_interval_root) F(uhmm_interval_root, rb)                                          \
	S(uhmm_interval_span) F(uhmm_interval_span, start) F(uhmm_interval_span, last)          \
	S(uhmm_mmu_notifier_range) F(uhmm_mmu_notifier_range, mm)                                \
	F(uhmm_mmu_notifier_range, start) F(uhmm_mmu_notifier_range, end)                        \
	F(uhmm_mmu_notifier_range, flags) F(uhmm_mmu_notifier_range, event)                      \
	F(uhmm_mmu_notifier_range, owner)                                                        \
	S(uhmm_mmu_notifier_ops) F(uhmm_mmu_notifier_ops, release)                               \
	F(uhmm_mmu_notifier_ops, invalidate_range_start)                                         \
	F(uhmm_mmu_notifier_ops, invalidate_range_end)                                           \
	S(uhmm_mmu_notifier) F(uhmm_mmu_notifier, ops) F(uhmm_mmu_notifier, mm)                  \
	F(uhmm_mmu_notifier, next) F(uhmm_mmu_notifier, linked)                                  \
	S(uhmm_mmu_interval_notifier_ops) F(uhmm_mmu_interval_notifier_ops, invalidate)          \
	S(uhmm_mmu_interval_notifier) F(uhmm_mmu_interval_notifier, interval)                    \
	F(uhmm_mmu_interval_notifier, ops) F(uhmm_mmu_interval_notifier, mm)                     \
	F(uhmm_mmu_interval_notifier, deferred_next) F(uhmm_mmu_interval_notifier, deferred)     \
	F(uhmm_mmu_interval_notifier, in_tree) F(uhmm_mmu_interval_notifier, invalidate_seq)     \
	F(uhmm_mmu_interval_notifier, stat_invalidations)                                        \
	F(uhmm_mmu_interval_notifier, stat_retries) F(uhmm_mmu_interval_notifier, stat_streak)   \
	F(uhmm_mmu_interval_notifier, stat_max_streak)                                           \
	S(uhmm_mmu_interval_notifier_stats) F(uhmm_mmu_interval_notifier_stats, invalidations)   \
	F(uhmm_mmu_interval_notifier_stats, retries)                                             \
	F(uhmm_mmu_interval_notifier_stats, max_retry_streak)                                    \
	S(uhmm_vm_fault) F(uhmm_vm_fault, vma) F(uhmm_vm_fault, mm) F(uhmm_vm_fault, address)   \
	F(uhmm_vm_fault, page) F(uhmm_vm_fault, write)                                           \
	S(uhmm_dev_pagemap_ops) F(uhmm_dev_pagemap_ops, page_free)                               \
	F(uhmm_dev_pagemap_ops, migrate_to_ram)                                                  \
	S(uhmm_dev_pagemap) F(uhmm_dev_pagemap, type) F(uhmm_dev_pagemap, ops)                   \
	F(uhmm_dev_pagemap, owner) F(uhmm_dev_pagemap, nr_pages) F(uhmm_dev_pagemap, pfn_first) \
	F(uhmm_dev_pagemap, sys) F(uhmm_dev_pagemap, priv_)                                      \
	S(uhmm_migrate_vma) F(uhmm_migrate_vma, vma) F(uhmm_migrate_vma, src)                    \
	F(uhmm_migrate_vma, dst) F(uhmm_migrate_vma, npages) F(uhmm_migrate_vma, start)          \
	F(uhmm_migrate_vma, end) F(uhmm_migrate_vma, cpages) F(uhmm_migrate_vma, pgmap_owner)    \
	F(uhmm_migrate_vma, flags) F(uhmm_migrate_vma, fault_page)                               \
	S(uhmm_range) F(uhmm_range, notifier) F(uhmm_range, notifier_seq) F(uhmm_range, start)  \
	F(uhmm_range, end) F(uhmm_range, hmm_pfns) F(uhmm_range, default_flags)                  \
	F(uhmm_range, pfn_flags_mask) F(uhmm_range, dev_private_owner)                           \
	S(uhmm_trace_event) F(uhmm_trace_event, phase) F(uhmm_trace_event, name)                 \
	F(uhmm_trace_event, cat) F(uhmm_trace_event, ts_ns) F(uhmm_trace_event, tid)             \
	F(uhmm_trace_event, mm) F(uhmm_trace_event, start) F(uhmm_trace_event, end)              \
	F(uhmm_trace_event, event) F(uhmm_trace_event, owner) F(uhmm_trace_event, skipped)       \
	F(uhmm_trace_event, value) F(uhmm_trace_event, device)                                   \
	S(uhmm_tracer) F(uhmm_tracer, event) F(uhmm_tracer, arg)                                 \
	S(uhmm_dmirror_device_opts) F(uhmm_dmirror_device_opts, type)                            \
	F(uhmm_dmirror_device_opts, memory_bytes) F(uhmm_dmirror_device_opts, chunk_bytes)       \
	F(uhmm_dmirror_device_opts, invalidate_own_migrations)                                   \
	F(uhmm_dmirror_device_opts, tlb_flush_ns) F(uhmm_dmirror_device_opts, cost)              \
	F(uhmm_dmirror_device_opts, filter) F(uhmm_dmirror_device_opts, filter_exclusive)        \
	S(uhmm_dmirror_cost) F(uhmm_dmirror_cost, copy_bytes_per_us)                             \
	F(uhmm_dmirror_cost, copy_setup_ns) F(uhmm_dmirror_cost, fault_ns)                       \
	F(uhmm_dmirror_cost, tlb_flush_ns) F(uhmm_dmirror_cost, pte_write_ns)                    \
	F(uhmm_dmirror_cost, realtime)                                                           \
	S(uhmm_dmirror_device_stats) F(uhmm_dmirror_device_stats, chunks)                        \
	F(uhmm_dmirror_device_stats, pages_total) F(uhmm_dmirror_device_stats, devmem_pages_in_use) \
	F(uhmm_dmirror_device_stats, pages_evicted) F(uhmm_dmirror_device_stats, alloc_failures) \
	F(uhmm_dmirror_device_stats, files) F(uhmm_dmirror_device_stats, sim_ns_total)           \
	F(uhmm_dmirror_device_stats, sim_ns_copy) F(uhmm_dmirror_device_stats, sim_ns_fault)     \
	F(uhmm_dmirror_device_stats, sim_ns_flush) F(uhmm_dmirror_device_stats, sim_ns_pte)      \
	S(uhmm_dmirror_cmd) F(uhmm_dmirror_cmd, addr) F(uhmm_dmirror_cmd, ptr)                   \
	F(uhmm_dmirror_cmd, npages) F(uhmm_dmirror_cmd, cpages) F(uhmm_dmirror_cmd, faults)      \
	S(uhmm_dmirror_stats) F(uhmm_dmirror_stats, invalidations)                               \
	F(uhmm_dmirror_stats, invalidations_skipped) F(uhmm_dmirror_stats, ptes_zapped)          \
	F(uhmm_dmirror_stats, faults) F(uhmm_dmirror_stats, pages_to_dev)                        \
	F(uhmm_dmirror_stats, pages_to_sys) F(uhmm_dmirror_stats, devmem_pages_in_use)           \
	F(uhmm_dmirror_stats, ptes_migrated) F(uhmm_dmirror_stats, max_retry_streak)

#endif
