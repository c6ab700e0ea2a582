/* SPDX-License-Identifier: MIT */
/* dmirror_cost.c - the simulated device's clock: what copies, fault rounds, TLB flushes and entry writes cost it.
 *
 * No counterpart in lib/test_hmm.c, whose device is the CPU. A CPU-only
 * simulation shows what the owner filter saves only if it models the device
 * work it saves, so each device keeps a clock in nanoseconds that the
 * dmirror paths advance (struct uhmm_dmirror_cost). Left out: queueing and
 * overlap (the clock is a sum of costs, as if the device did one thing at a time).
 */
#include <time.h>

#include "dmirror/dmirror_internal.h"

/*
 * A PCIe 4.0 x16 GPU. Sources (README "Device cost model"):
 * - 25 GB/s: PCIe 4.0 x16 is 16 GT/s x 16 lanes, 128b/130b = 31.5 GB/s per
 *   direction (PCI-SIG); DMA copies reach about 80 % of it (NVIDIA's
 *   bandwidthTest on A100 PCIe: ~25 GB/s pinned).
 * - 10 us per transfer: the fixed cost of one cudaMemcpy / DMA submission
 *   (NVIDIA CUDA Best Practices Guide, "Data Transfer Between Host and
 *   Device": batch small transfers; measured latencies ~10 us).
 * - 30 us per fault round: far-fault service latency of GPU demand paging,
 *   20-50 us (Zheng et al., "Towards High Performance Paged Memory for
 *   GPUs", HPCA 2016; Allen and Ge, "In-Depth Analyses of Unified Virtual
 *   Memory System for GPU Accelerated Computing", SC 2021).
 * - 2 us per TLB flush: a device/IOMMU TLB invalidation costs microseconds
 *   (Amit et al., "IOMMU: Strategies for Mitigating the IOTLB Bottleneck",
 *   WIOSCA 2010); the demo's earlier simulated flush.
 * - 50 ns per entry: one 8-byte page-table entry written over PCIe as a
 *   posted write (Neugebauer et al., "Understanding PCIe performance for
 *   end host networking", SIGCOMM 2018: tens of ns per small posted write).
 */
const struct uhmm_dmirror_cost uhmm_dmirror_cost_default = {
	.copy_bytes_per_us = 25000,
	.copy_setup_ns = 10000,
	.fault_ns = 30000,
	.tlb_flush_ns = 2000,
	.pte_write_ns = 50,
	.realtime = false,
};

void dmirror_cost_init(struct uhmm_dmirror_device *dev, const struct uhmm_dmirror_device_opts *opts)
{
	int i;

	dev->cost = opts && opts->cost ? *opts->cost : uhmm_dmirror_cost_default;
	dev->spin_flush_ns = opts ? opts->tlb_flush_ns : 0;
	if (dev->spin_flush_ns)
		dev->cost.tlb_flush_ns = dev->spin_flush_ns;
	for (i = 0; i < DMIRROR_SIM_NR; i++)
		atomic_init(&dev->sim_ns[i], 0);
}

static unsigned long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
}

/* A real device occupies the CPU that waits for it: spin, do not sleep. */
static void spin(unsigned long long ns)
{
	unsigned long long start = now_ns();

	while (now_ns() - start < ns)
		;
}

static void advance(struct uhmm_dmirror_device *dev, enum dmirror_sim what, unsigned long long ns, bool wait)
{
	unsigned long long total = 0;
	int i;

	if (!ns)
		return;
	atomic_fetch_add_explicit(&dev->sim_ns[what], ns, memory_order_relaxed);
	if (wait)
		spin(ns);
	if (uhmm_trace_enabled()) {
		struct uhmm_trace_event ev = { .phase = UHMM_TRACE_COUNTER, .name = "dmirror_device_ns",
					       .cat = "device", .event = -1, .device = dev };

		for (i = 0; i < DMIRROR_SIM_NR; i++)
			total += atomic_load_explicit(&dev->sim_ns[i], memory_order_relaxed);
		ev.value = (long)total;
		uhmm_trace_emit(&ev);
	}
}

void dmirror_sim_copy(struct uhmm_dmirror_device *dev, unsigned long bytes)
{
	unsigned long long ns;

	if (!bytes)
		return;
	ns = dev->cost.copy_setup_ns;
	if (dev->cost.copy_bytes_per_us)
		ns += ((unsigned long long)bytes * 1000ULL + dev->cost.copy_bytes_per_us - 1) /
		      dev->cost.copy_bytes_per_us;
	advance(dev, DMIRROR_SIM_COPY, ns, dev->cost.realtime);
}

void dmirror_sim_fault(struct uhmm_dmirror_device *dev)
{
	advance(dev, DMIRROR_SIM_FAULT, dev->cost.fault_ns, dev->cost.realtime);
}

void dmirror_sim_flush(struct uhmm_dmirror_device *dev)
{
	advance(dev, DMIRROR_SIM_FLUSH, dev->cost.tlb_flush_ns, dev->cost.realtime || dev->spin_flush_ns);
}

void dmirror_sim_ptes(struct uhmm_dmirror_device *dev, unsigned long n)
{
	advance(dev, DMIRROR_SIM_PTE, (unsigned long long)n * dev->cost.pte_write_ns, dev->cost.realtime);
}
