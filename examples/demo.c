/* SPDX-License-Identifier: MIT */
/* demo.c - a tour of libuhmm's memory model: mmap, CPU access, fork, notifiers.
 *
 * Build against an installed uhmm with: cc demo.c $(pkg-config --cflags --libs uhmm)
 */
#include <stdio.h>
#include <string.h>
#include <uhmm/uhmm.h>

#define NPAGES 8

struct recorder {
	struct uhmm_mmu_interval_notifier sub;	/* embedded: the callback finds us with container_of */
	const char *name;
};

static bool record(struct uhmm_mmu_interval_notifier *sub, const struct uhmm_mmu_notifier_range *range,
		   unsigned long cur_seq)
{
	struct recorder *r = (struct recorder *)((char *)sub - offsetof(struct recorder, sub));

	uhmm_mmu_interval_set_seq(sub, cur_seq);	/* a real driver does this under its lock */
	printf("  [%s] %-15s [%#lx, %#lx)\n", r->name, uhmm_mmu_notifier_event_name(range->event), range->start,
	       range->end);
	return true;
}

static const struct uhmm_mmu_interval_notifier_ops record_ops = { .invalidate = record };

static int check(int r, const char *what)
{
	if (r)
		fprintf(stderr, "demo: %s: %s\n", what, strerror(-r));
	return r;
}

int main(void)
{
	struct recorder parent_rec = { .name = "parent" }, child_rec = { .name = "child" };
	struct uhmm_system *sys;
	struct uhmm_mm *mm, *child;
	struct uhmm_system_stats st;
	unsigned long addr;
	char buf[32];

	if (check(uhmm_system_create(NULL, &sys), "uhmm_system_create") ||
	    check(uhmm_mm_create(sys, &mm), "uhmm_mm_create"))
		return 1;
	if (check(uhmm_mmu_interval_notifier_insert(&parent_rec.sub, mm, 0, 1UL << 47, &record_ops), "insert") ||
	    check(uhmm_mmap(mm, 0, NPAGES * UHMM_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			    &addr),
		  "uhmm_mmap"))
		return 1;
	printf("mapped %d pages at %#lx\n", NPAGES, addr);

	uhmm_cpu_read(mm, addr, buf, 1);
	printf("read of untouched memory: %d (the shared zero page)\n", buf[0]);
	uhmm_cpu_write(mm, addr, "hello from the parent", 22);
	printf("parent wrote a string; forking (the parent's range is write-protected):\n");
	if (check(uhmm_mm_fork(mm, &child), "uhmm_mm_fork") ||
	    check(uhmm_mmu_interval_notifier_insert(&child_rec.sub, child, 0, 1UL << 47, &record_ops), "insert"))
		return 1;
	printf("child writes the same page (copy-on-write break):\n");
	uhmm_cpu_write(child, addr, "hello from the child!", 22);
	uhmm_cpu_read(mm, addr, buf, 22);
	printf("  parent reads: \"%s\"\n", buf);
	uhmm_cpu_read(child, addr, buf, 22);
	printf("  child reads:  \"%s\"\n", buf);

	printf("mprotect one page read-only, then MADV_DONTNEED another:\n");
	uhmm_mprotect(mm, addr + UHMM_PAGE_SIZE, UHMM_PAGE_SIZE, PROT_READ);
	printf("  a CPU write to it returns %d (-EFAULT, the SIGSEGV case)\n",
	       uhmm_cpu_write(mm, addr + UHMM_PAGE_SIZE, "x", 1));
	uhmm_madvise(mm, addr, UHMM_PAGE_SIZE, MADV_DONTNEED);
	uhmm_cpu_read(mm, addr, buf, 1);
	printf("  after MADV_DONTNEED the page reads %d\n", buf[0]);

	printf("child exits (RELEASE, then UNMAP):\n");
	uhmm_mm_put(child);
	uhmm_mmu_interval_notifier_remove(&child_rec.sub);
	printf("parent munmaps and exits:\n");
	uhmm_munmap(mm, addr, NPAGES * UHMM_PAGE_SIZE);
	uhmm_mm_put(mm);
	uhmm_mmu_interval_notifier_remove(&parent_rec.sub);
	uhmm_system_get_stats(sys, &st);
	printf("RAM frames in use at the end: %lu (the zero page)\n", st.used_pages);
	uhmm_system_destroy(sys);
	return st.used_pages == 1 ? 0 : 1;
}
