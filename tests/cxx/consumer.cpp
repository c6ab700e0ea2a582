/* SPDX-License-Identifier: MIT */
/* consumer.cpp - a C++ driver of uhmm: the public headers as C++, the
 * structures' layout equal to C's, and a real round trip.
 *
 * Embeds an interval notifier in a C++ class, migrates pages to a dmirror
 * device, checks that the device read back the data and that the notifier
 * saw the MIGRATE invalidation with the device as owner, then brings the
 * pages back with a CPU read and checks the data again. Exit 0 on success,
 * 1 with a message on the first failed check.
 */
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <vector>

#include <uhmm/dmirror.h>
#include <uhmm/uhmm.h>

#include "layout_c.h"
#include "layout_list.h"

/* The C++ compiler's layout of every public structure equals the C one. */
#define S(s)                                                                                      \
	static_assert(sizeof(struct s) == C_SIZEOF_##s, "sizeof(struct " #s ") differs from C");   \
	static_assert(alignof(struct s) == C_ALIGNOF_##s, "alignof(struct " #s ") differs from C");
#define F(s, fld)                                                                                  \
	static_assert(offsetof(struct s, fld) == C_OFFSETOF_##s##_##fld,                          \
		      "offsetof(struct " #s ", " #fld ") differs from C");
UHMM_LAYOUT_LIST(S, F)
#undef S
#undef F

namespace {

constexpr unsigned long kPages = 16;

int failures;

void check(bool ok, const char *what)
{
	if (!ok) {
		std::fprintf(stderr, "consumer: FAILED: %s\n", what);
		failures++;
	}
}

int check_rc(int rc, const char *what)
{
	if (rc) {
		std::fprintf(stderr, "consumer: FAILED: %s returned %d (%s)\n", what, rc, std::strerror(-rc));
		failures++;
	}
	return rc;
}

/* A driver-side mirror: the embedded notifier and the lock its callback takes. */
class Mirror {
public:
	uhmm_mmu_interval_notifier sub{};	/* embedded, zero-initialised, as C drivers do */
	std::mutex lock;
	unsigned long migrate_events = 0;
	void *last_owner = nullptr;

	static bool invalidate(uhmm_mmu_interval_notifier *s, const uhmm_mmu_notifier_range *range,
			       unsigned long cur_seq)
	{
		/* container_of, the C++ way: sub is the first member of a standard-layout class. */
		Mirror *m = reinterpret_cast<Mirror *>(reinterpret_cast<char *>(s) - offsetof(Mirror, sub));

		if (!uhmm_mmu_notifier_range_blockable(range))
			return false;
		std::lock_guard<std::mutex> guard(m->lock);
		uhmm_mmu_interval_set_seq(s, cur_seq);
		if (range->event == UHMM_MMU_NOTIFY_MIGRATE) {
			m->migrate_events++;
			m->last_owner = range->owner;
		}
		return true;
	}
};

const uhmm_mmu_interval_notifier_ops mirror_ops = { Mirror::invalidate };

} // namespace

int main()
{
	uhmm_system *sys = nullptr;
	uhmm_mm *mm = nullptr;
	uhmm_dmirror_device *dev = nullptr;
	uhmm_dmirror *file = nullptr;
	unsigned long addr = 0;
	const std::size_t len = kPages * UHMM_PAGE_SIZE;
	std::vector<unsigned char> data(len), back(len), snap(kPages);
	Mirror mirror;

	for (std::size_t i = 0; i < len; i++)
		data[i] = static_cast<unsigned char>(i * 7 + i / UHMM_PAGE_SIZE);

	if (check_rc(uhmm_system_create(nullptr, &sys), "uhmm_system_create") ||
	    check_rc(uhmm_mm_create(sys, &mm), "uhmm_mm_create") ||
	    check_rc(uhmm_dmirror_device_create(sys, nullptr, &dev), "uhmm_dmirror_device_create") ||
	    check_rc(uhmm_dmirror_open(dev, mm, &file), "uhmm_dmirror_open") ||
	    check_rc(uhmm_mmap(mm, 0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, &addr),
		     "uhmm_mmap") ||
	    check_rc(uhmm_mmu_interval_notifier_insert(&mirror.sub, mm, addr, len, &mirror_ops),
		     "uhmm_mmu_interval_notifier_insert") ||
	    check_rc(uhmm_cpu_write(mm, addr, data.data(), len), "uhmm_cpu_write"))
		return 1;

	/* Migrate to the device; dmirror reads the pages back into cmd.ptr. */
	uhmm_dmirror_cmd cmd{};
	cmd.addr = addr;
	cmd.ptr = back.data();
	cmd.npages = kPages;
	if (check_rc(uhmm_dmirror_ioctl(file, UHMM_DMIRROR_MIGRATE_TO_DEV, &cmd), "MIGRATE_TO_DEV"))
		return 1;
	check(cmd.cpages == kPages, "every page migrated (cpages)");
	check(back == data, "the device read back what the CPU wrote");
	{
		std::lock_guard<std::mutex> guard(mirror.lock);
		check(mirror.migrate_events >= 1, "the embedded notifier saw a MIGRATE invalidation");
		check(mirror.last_owner == uhmm_dmirror_device_owner(dev), "its owner is the device");
	}

	cmd = uhmm_dmirror_cmd{};
	cmd.addr = addr;
	cmd.ptr = snap.data();
	cmd.npages = kPages;
	if (check_rc(uhmm_dmirror_ioctl(file, UHMM_DMIRROR_SNAPSHOT, &cmd), "SNAPSHOT"))
		return 1;
	for (unsigned long i = 0; i < kPages; i++)
		check((snap[i] & 0xF0) == UHMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL, "page is in device-private memory");

	/* A CPU read faults the pages back to RAM through migrate_to_ram. */
	std::vector<unsigned char> cpu(len);
	if (check_rc(uhmm_cpu_read(mm, addr, cpu.data(), len), "uhmm_cpu_read"))
		return 1;
	check(cpu == data, "the CPU reads the data back after the device had it");
	uhmm_pte_info pte{};
	check_rc(uhmm_mm_query_pte(mm, addr, &pte), "uhmm_mm_query_pte");
	check(pte.kind == UHMM_PTE_PRESENT, "the page is back in RAM");

	uhmm_mmu_interval_notifier_remove(&mirror.sub);
	uhmm_dmirror_close(file);
	uhmm_mm_put(mm);
	uhmm_dmirror_device_destroy(dev);
	uhmm_system_destroy(sys);

	if (failures) {
		std::fprintf(stderr, "consumer: %d check(s) failed\n", failures);
		return 1;
	}
	std::printf("consumer: C++ layout matches C for every public structure; %lu pages migrated to the "
		    "device and back intact\n",
		    kPages);
	return 0;
}
